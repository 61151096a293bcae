"""JSON text made by an encoder built once (issue 20): the columns' (`store.models.dumps`)
and the outbound specs' (`outbound.deferred.Spec.dumps`)."""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable
from typing import Any

__all__ = ["dumps", "json_encoder"]


def json_encoder(*, ensure_ascii: bool, separators: tuple[str, str]) -> Callable[[object], str]:
    """`lambda value: json.dumps(value, ensure_ascii=..., separators=...)`, the same text,
    made once (issue 20): `json.dumps` with options builds a `JSONEncoder` per call, whose
    `encode` builds its C encoder per call and tracks every container against cycles (~2 us
    of a history row's ~3 us, ~6 of an outbound spec's ~16). The C encoder here is made
    once and without the cycle markers, so it keeps no state between calls (threads share
    it); a value holding a cycle (a bug) goes to the usual encoder, which raises its
    `ValueError` as before."""
    encoder = json.JSONEncoder(ensure_ascii=ensure_ascii, separators=separators)
    make: Any = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator: the usual path
        return encoder.encode
    strings = (json.encoder.encode_basestring_ascii if ensure_ascii
               else json.encoder.encode_basestring)
    # the arguments `JSONEncoder.iterencode` gives it: (markers, default, string encoder,
    # indent, key separator, item separator, sort_keys, skipkeys, allow_nan)
    one_shot = make(None, encoder.default, strings, None, encoder.key_separator,
                    encoder.item_separator, False, False, True)
    join = "".join

    def encode(value: object) -> str:
        try:
            return join(one_shot(value, 0))
        except RecursionError:  # a cycle, or nesting too deep: what `encode` says of it
            return encoder.encode(value)

    return encode


# The JSON text columns' (`store.models.dumps`): compact, non-ASCII kept as it is.
dumps: Callable[[object], str] = json_encoder(ensure_ascii=False, separators=(",", ":"))
