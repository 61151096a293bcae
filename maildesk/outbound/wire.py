"""A built mail's bytes without the email package's generator (issue 20).

`build_message` makes a compat32 `Message` with one text/plain part, quoted-printable;
`message.as_bytes(policy=WIRE)` then runs the generic generator: a buffer per message, a
dispatch per part, and `Header(value).encode()` for every header even when it fits on one
line. For that one shape this writes the same bytes directly: a header that fits on its
line as it is (ASCII, single-spaced, at most 78 characters with its name) is written as it
is, which is what `Header.encode` leaves it as; every other header goes through the same
`WIRE.fold_binary` the generator calls; the body is the payload with CRLF line ends.

Byte for byte the generator's output: tests/outbound/test_wire.py compares the two for
every kind of mail maildesk sends and for random headers. Anything else (a multipart, a
payload with raw 8-bit bytes) goes through the generator as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.message import Message
from functools import lru_cache
from typing import Any

from maildesk.outbound.render import WIRE, _quoted_printable, build_message, message_parts

__all__ = ["built_bytes", "fold", "wire_bytes"]

_NEWLINES = re.compile(r"\r\n|\r|\n")  # the generator's NLCRE
_LIMIT = WIRE.max_line_length or 78


def fold(name: str, value: Any) -> bytes:
    """`Name: value` CRLF, folded as compat32's `fold_binary` folds it (`value` a str or
    an `email.header.Header`, as compat32 takes them)."""
    if isinstance(value, str) and value.isascii():
        line = f"{name}: {value}"
        if len(line) <= _LIMIT and " ".join(value.split()) == value:
            return line.encode("ascii") + b"\r\n"
    return WIRE.fold_binary(name, value)


def wire_bytes(message: Message) -> bytes:
    """`message.as_bytes(policy=WIRE)`, cheaper for `build_message`'s single text part."""
    payload = message.get_payload()  # what the generator writes
    if (message.is_multipart() or not isinstance(payload, str) or not payload.isascii()
            or message.get_content_type() != "text/plain"):
        return message.as_bytes(policy=WIRE)
    return _joined(message.raw_items(), payload)


# `fold` of a str value, cached (issue 20): most of a mail's ~13 headers are the same in
# every mail (From, an agent's To, X-Loop, Auto-Submitted, MIME-Version, Content-Type):
# the 8 of a notification that are take 3.2 us a mail folded, 1.2 us cached. A `Header`
# (mutable, hashed by identity) is folded each time.
_folded = lru_cache(maxsize=1024)(fold)


# Headers whose value is new in (nearly) every mail: folded as they come, not through the
# cache, where each was a miss that evicted a fold worth keeping (~0.5 us a miss).
_UNIQUE = frozenset({"Date", "Message-ID", "In-Reply-To", "References", "Reply-To"})


def _joined(headers: Iterable[tuple[str, Any]], payload: str) -> bytes:
    head = b"".join(_folded(name, value) if type(value) is str and name not in _UNIQUE
                    else fold(name, value) for name, value in headers)
    # The quoted-printable encoder ends lines with LF only (a CR in the text is encoded or
    # ends a line), so replacing LF is the generator's split and join, ten times cheaper.
    body = payload.replace("\n", "\r\n") if "\r" not in payload else \
        "\r\n".join(_NEWLINES.split(payload))
    return head + b"\r\n" + body.encode("ascii")


_MIME = {"content-type", "content-transfer-encoding"}
_TEXT_PLAIN = [("Content-Type", 'text/plain; charset="utf-8"'),
               ("Content-Transfer-Encoding", "quoted-printable")]


def built_bytes(**fields: Any) -> bytes:
    """`wire_bytes(build_message(**fields))` without the `Message` in between (its
    headers set one by one, the MIME headers' parameters formatted, the content type
    parsed back): the headers `message_parts` makes, then `_set_text`'s two and its
    quoted-printable body (tests/outbound/test_wire.py compares the two)."""
    headers, text = message_parts(**fields)
    payload = _quoted_printable(text)
    # Of `message_parts`'s headers only the extra ones can be MIME headers.
    if any(name.lower() in _MIME for name in fields.get("extra") or ()) \
            or not payload.isascii():
        return wire_bytes(build_message(**fields))  # an extra header set one
    return _joined(headers + _TEXT_PLAIN, payload)
