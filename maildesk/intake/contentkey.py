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
import re

__all__ = ["TRACE_HEADERS", "content_key"]

# Header fields a transfer or delivery agent adds or rewrites on the way in.
TRACE_HEADERS = frozenset({
    "received", "return-path", "delivered-to", "x-original-to", "envelope-to",
    "x-envelope-to", "x-envelope-from", "x-delivered-to", "x-received", "received-spf",
    "authentication-results", "arc-authentication-results", "arc-message-signature",
    "arc-seal", "x-spam-status", "x-spam-score", "x-spam-level", "x-spam-flag",
    "x-spam-checker-version", "x-virus-scanned", "x-virus-status", "x-original-arrival-time",
})

_SPLIT = re.compile(rb"\r?\n\r?\n")


def content_key(raw: bytes, message_id: str | None) -> str:
    """sha256 hex of the Message-ID, the non-trace headers and the body (LF line ends)."""
    text = raw.replace(b"\r\n", b"\n")
    match = _SPLIT.search(text)
    head, body = (text[:match.start()], text[match.end():]) if match else (text, b"")
    digest = hashlib.sha256()
    digest.update(b"message-id:" + (message_id or "").encode("utf-8", "surrogateescape"))
    digest.update(b"\0")
    keep = True
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):  # a continuation goes with its field
            if keep:
                digest.update(line + b"\n")
            continue
        name = line.split(b":", 1)[0].strip().lower()
        keep = name.decode("ascii", "replace") not in TRACE_HEADERS
        if keep:
            digest.update(line + b"\n")
    digest.update(b"\0")
    digest.update(body.rstrip(b"\r\n"))  # an SMTP client may add a line end
    return digest.hexdigest()
