"""Our bounce address with a VERP id: `bounces+ID-SIG@domain` names the outbox row."""

from __future__ import annotations

import re

from maildesk.config import Config
from maildesk.intake.message import Envelope

__all__ = ["to_bounce_address", "verp_id", "verp_sig"]

_VERP = re.compile(r"\+(\d{1,18})(?:-([a-z2-7]{8}))?$")


def verp_id(config: Config, address: str) -> int | None:
    """The outbox id in `bounces+ID@domain`, when the address is our bounce address."""
    local, _, domain = address.lower().partition("@")
    b_local, _, b_domain = config.outbound.bounce_address.lower().partition("@")
    if domain != b_domain or local.split("+", 1)[0] != b_local:
        return None
    m = _VERP.search(local)
    return int(m.group(1)) if m else None


def verp_sig(config: Config, envelope: Envelope) -> str | None:
    """The signature part of a VERP recipient (`bounces+ID-SIG@`), checked by the matcher."""
    for rcpt in envelope.recipients:
        if verp_id(config, rcpt) is not None:
            m = _VERP.search(rcpt.lower().partition("@")[0])
            return m.group(2) if m else None
    return None


def to_bounce_address(config: Config, envelope: Envelope) -> int | bool:
    """The VERP id the mail was sent to; else whether it went to the bare bounce address."""
    for rcpt in envelope.recipients:
        vid = verp_id(config, rcpt)
        if vid is not None:
            return vid
    b = config.outbound.bounce_address.lower()
    return any(r.lower() == b for r in envelope.recipients)
