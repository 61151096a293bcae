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
from email.message import Message
from typing import Any

from maildesk.outbound.render import WIRE

__all__ = ["fold", "wire_bytes"]

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
    head = b"".join(fold(name, value) for name, value in message.raw_items())
    # The quoted-printable encoder ends lines with LF only (a CR in the text is encoded or
    # ends a line), so replacing LF is the generator's split and join, ten times cheaper.
    body = payload.replace("\n", "\r\n") if "\r" not in payload else \
        "\r\n".join(_NEWLINES.split(payload))
    return head + b"\r\n" + body.encode("ascii")
