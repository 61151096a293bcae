"""The envelope-independent key of a mail, for duplicate detection.

An MTA that lost our final reply retries with a new `Received:` (RFC 5321 4.5.3.2.6); a
pipe transport hands over one copy per recipient with its own `Delivered-To:`; a maildrop
adds `Return-Path:` or `X-Original-To:`. Those copies differ in bytes but are one mail,
so the key is the sha256 of the Message-ID and of the mail without such trace headers,
with line ends normalised (and those at the very end dropped). Everything else (From,
Date, Subject, body) counts: a changed body under the same Message-ID is another article.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterator

__all__ = ["TRACE_HEADERS", "content_key"]

# Header fields a transfer or delivery agent adds or rewrites on the way in.
TRACE_HEADERS = frozenset({
    "received", "return-path", "delivered-to", "x-original-to", "envelope-to",
    "x-envelope-to", "x-envelope-from", "x-delivered-to", "x-received", "received-spf",
    "authentication-results", "arc-authentication-results", "arc-message-signature",
    "arc-seal", "x-spam-status", "x-spam-score", "x-spam-level", "x-spam-flag",
    "x-spam-checker-version", "x-virus-scanned", "x-virus-status", "x-original-arrival-time",
})

_TRACE_NAMES = frozenset(name.encode("ascii") for name in TRACE_HEADERS)
_SPLIT = re.compile(rb"\r?\n\r?\n")
_CHUNK = 1 << 20  # bytes converted and hashed at a time


def content_key(raw: bytes, message_id: str | None) -> str:
    """sha256 hex of the Message-ID, the non-trace headers and the body (LF line ends).

    Read a chunk at a time: the body is hashed as it is converted, so a big mail costs no
    copy of itself (converting it whole took three: the LF text, its body, the body
    without its last line ends)."""
    chunks = _lf_chunks(raw)
    text: bytes | bytearray = b""
    match = None
    done = False
    while match is None and not done:
        chunk = next(chunks, None)
        done = chunk is None
        if chunk and text:  # a second chunk: joined (a mail of one chunk is not copied)
            if not isinstance(text, bytearray):
                text = bytearray(text)
            text += chunk
        elif chunk:
            text = chunk
        match = _blank_line(text)
        if match is not None and not done and match[1] > len(text) - 4:
            match = None  # it might grow with the next chunk: decide then
    head = bytes(text[:match[0]]) if match else bytes(text)
    body = memoryview(text)[match[1]:] if match else memoryview(b"")
    digest = hashlib.sha256()
    digest.update(b"message-id:" + (message_id or "").encode("utf-8", "surrogateescape"))
    digest.update(b"\0")
    # The kept lines hashed in one update (the same bytes as one update a line: ~8 us
    # less for a dozen header lines, issue 20); a name with 8-bit bytes is no trace
    # header in bytes as it was not once decoded.
    kept: list[bytes] = []
    keep = True
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):  # a continuation goes with its field
            if keep:
                kept.append(line)
            continue
        keep = line.split(b":", 1)[0].strip().lower() not in _TRACE_NAMES
        if keep:
            kept.append(line)
    kept.append(b"\0")
    digest.update(b"\n".join(kept))
    # The body without the line ends at its very end (an SMTP client may add one): a run
    # of them is held back until more text follows it. Hashed from views: no copy of it.
    held = b""
    for piece in itertools.chain((body,), map(memoryview, chunks)):
        if not piece:
            continue
        end = _text_end(piece)
        if end:
            digest.update(held)
            digest.update(piece[:end])
            held = bytes(piece[end:])
        else:
            held += bytes(piece)
    return digest.hexdigest()


def _blank_line(text: bytes | bytearray) -> tuple[int, int] | None:
    """The span of `_SPLIT.search(text)`. Text without a CR (the LF text of a mail that
    came with CRLF) has its first blank line where "\n\n" first is: bytes.find, not re,
    whose pattern has no literal start to skip to (2 KB: ~2.6 -> ~0.5 us, issue 20)."""
    if b"\r" not in text:
        at = text.find(b"\n\n")
        return (at, at + 2) if at >= 0 else None
    found = _SPLIT.search(text)
    return found.span() if found else None


def _text_end(piece: memoryview) -> int:
    """`len(bytes(piece).rstrip(b"\r\n"))`, from the last bytes only when they hold text."""
    tail = bytes(piece[-64:]).rstrip(b"\r\n")
    if tail:
        return len(piece) - min(len(piece), 64) + len(tail)
    return len(bytes(piece).rstrip(b"\r\n"))


def _lf_chunks(raw: bytes) -> Iterator[bytes]:
    """The mail with CRLF as LF, a chunk at a time (a CR ending one waits for the next)."""
    start, size = 0, len(raw)
    while start < size:
        end = min(start + _CHUNK, size)
        if end < size and raw[end - 1] == 13 and raw[end] == 10:  # keep CRLF together
            end += -1 if end - 1 > start else 1
        yield _crlf_to_lf(raw[start:end])
        start = end


_LONE_CR = re.compile(rb"\r(?!\n)")


def _crlf_to_lf(chunk: bytes) -> bytes:
    """`chunk.replace(b"\r\n", b"\n")`; when every CR in it begins a CRLF (a mail that came
    over SMTP), the CRs deleted: a third of the cost for 100 KB of CRLF lines. Deleted by
    `replace(b"\r", b"")`, which jumps from CR to CR (memchr), not `translate(None, b"\r")`,
    which looks up every byte: 64 -> 18 us for 100 KB (issue 20)."""
    if b"\r" not in chunk:
        return chunk
    if _LONE_CR.search(chunk) is None:
        return chunk.replace(b"\r", b"")
    return chunk.replace(b"\r\n", b"\n")
