"""Signed VERP addresses: `bounces+ID-SIG@domain`, SIG an HMAC of the outbox id.

The envelope sender of each outbound mail names its outbox row, so a bounce tells which
mail (and ticket) failed. Unsigned, anyone could write to `bounces+N@` and put a "system"
note on any ticket; as Mailman and Sympa do, the id carries an HMAC with the instance
secret, and only a bounce to a correctly signed address reaches a ticket.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["envelope_base", "signed_verp", "verp_signature", "verp_valid"]


def verp_signature(secret: bytes, outbox_id: int) -> str:
    digest = hmac.new(secret, f"verp:{outbox_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:5]).decode().lower()  # 8 chars, 40 bits


def signed_verp(bounce_address: str, secret: bytes, outbox_id: int) -> str:
    local, _, domain = bounce_address.partition("@")
    return f"{local}+{outbox_id}-{verp_signature(secret, outbox_id)}@{domain}"


def verp_valid(secret: bytes, outbox_id: int, signature: str | None) -> bool:
    return bool(secret and signature) and hmac.compare_digest(
        verp_signature(secret, outbox_id), (signature or "").lower())


def envelope_base(mail_from: str, outbox_id: int) -> str:
    """The bounce address a row's VERP sender is made of at send time: rows queued since
    the outbox stopped writing its VERP address after the INSERT (an UPDATE per row) hold
    the bare bounce address; older rows hold `local+ID@domain`."""
    local, at, domain = mail_from.partition("@")
    suffix = f"+{outbox_id}"
    return f"{local[:-len(suffix)]}{at}{domain}" if local.endswith(suffix) else mail_from
