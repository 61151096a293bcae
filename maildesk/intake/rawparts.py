"""Part bodies as the sender wrote them, sliced from the raw mail, and the transfer
encodings the standard library leaves undone. A forwarded message is stored byte for byte:
regenerating it from the parsed tree rewrites folding, spacing and encodings (Zammad and
OTOBO keep the bytes)."""

from __future__ import annotations

import binascii
import io
import re

__all__ = ["IDENTITY_ENCODINGS", "b64decode_lenient", "child_bodies", "uudecode"]

IDENTITY_ENCODINGS = frozenset({"", "7bit", "8bit", "binary"})
_BLANK = re.compile(rb"\r\n\r\n|\n\r?\n|\r\r")
_NEWLINE = re.compile(rb"\r\n|\n|\r")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=]")
_BASE64_CHUNK = 1 << 20  # characters decoded at a time
_UU_LINE = re.compile(rb"(?m)^begin [0-7]{3,4} [^\r\n]*\r?$|^end[ \t]*\r?$")


def child_bodies(raw: bytes, boundary: str, count: int) -> list[bytes] | None:
    """The body bytes (after each child's own header block) of a multipart's `count`
    children, or None when the raw delimiter lines do not match the parsed structure (a
    boundary that also occurs inside a child, a missing close): then the caller falls back
    to the parsed tree. Linear in the size of the mail."""
    try:
        mark = boundary.encode("ascii")
    except UnicodeEncodeError:
        return None
    delim = re.compile(
        rb"(?:\A|\r\n|\n|\r)--" + re.escape(mark) + rb"(--)?[ \t]*(?=\r\n|\n|\r|\Z)")
    opens: list[re.Match[bytes]] = []
    close = None
    for m in delim.finditer(raw):
        if m.group(1):
            close = m
            break
        opens.append(m)
        if len(opens) > count:
            return None
    if len(opens) != count:
        return None
    ends = [m.start() for m in opens[1:]] + [close.start() if close else len(raw)]
    bodies = []
    for m, end in zip(opens, ends, strict=True):
        seg = raw[m.end() : end]
        nl = _NEWLINE.match(seg)
        seg = seg[nl.end() :] if nl else seg
        first = _NEWLINE.match(seg)  # no header block at all: the body starts at once
        if first:
            bodies.append(seg[first.end() :])
            continue
        blank = _BLANK.search(seg)
        bodies.append(seg[blank.end() :] if blank else b"")
    return bodies


def uudecode(data: bytes) -> bytes:
    """An x-uuencode part's bytes, with or without the `begin`/`end` lines (Zammad mail078:
    Eudora sends the lines alone); lines a broken encoder padded are cut as
    email.message does."""
    out = bytearray()
    for line in _UU_LINE.sub(b"", data).splitlines():
        line = line.strip(b"\r")
        if not line or line == b"`":
            continue
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            try:
                out += binascii.a2b_uu(line[: (((line[0] - 32) & 63) * 4 + 5) // 3])
            except binascii.Error:
                continue
    return bytes(out)


def b64decode_lenient(payload: str) -> bytes:
    """A base64 part's bytes as a mail client reads them, with the result of mail-parser's
    `decode_base64_payload` (bytes outside the alphabet dropped, the first `=` ends the
    stream, a lone last character dropped, padding added), a chunk at a time: mail-parser's
    holds four copies of a whole attachment's text at once."""
    out = io.BytesIO()
    carry = b""
    for start in range(0, len(payload), _BASE64_CHUNK):
        piece = carry + _NOT_BASE64.sub(
            b"", payload[start : start + _BASE64_CHUNK].encode("ascii", "ignore"))
        end = piece.find(b"=")
        if end >= 0:
            piece = piece[:end]
        whole = len(piece) - len(piece) % 4
        out.write(binascii.a2b_base64(piece[:whole]))
        carry = piece[whole:]
        if end >= 0:
            break
    if len(carry) % 4 == 1:  # no complete byte in it
        carry = b""
    if carry:
        out.write(binascii.a2b_base64(carry + b"=" * (-len(carry) % 4)))
    return out.getvalue()  # the buffer itself, not a copy
