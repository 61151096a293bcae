"""Reply tokens: `queue+TOKEN@domain` bound to one agent and one ticket by an HMAC.

TOKEN = "t" + ticket id + "a" + 8 hex of sha256(agent) + 16 base32 chars of
HMAC-SHA256(secret, "ticket:agent"). Lowercase letters and digits only, so every MTA keeps
it intact. Unguessable without the instance secret, and it names no agent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

__all__ = ["TokenRef", "find_token", "make_token", "verify_token"]

_TOKEN = re.compile(r"t(\d{1,18})a([0-9a-f]{8})([a-z2-7]{16})")


@dataclass(frozen=True)
class TokenRef:
    ticket_id: int
    agent: str


def _agent_hash(agent: str) -> str:
    return hashlib.sha256(agent.lower().encode()).hexdigest()[:8]


def _mac(secret: bytes, ticket_id: int, agent: str) -> str:
    digest = hmac.new(secret, f"{ticket_id}:{agent.lower()}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode().lower()


def make_token(secret: bytes, ticket_id: int, agent: str) -> str:
    if not secret:
        raise ValueError("no instance secret: run `maildesk init`")
    return f"t{ticket_id}a{_agent_hash(agent)}{_mac(secret, ticket_id, agent)}"


def verify_token(secret: bytes, token: str, agents: list[str]) -> TokenRef | None:
    """The (ticket, agent) a token was made for, or None when it is not one of ours."""
    m = _TOKEN.fullmatch(token.lower())
    if not m or not secret:
        return None
    ticket_id, ahash, mac = int(m.group(1)), m.group(2), m.group(3)
    for agent in agents:
        if _agent_hash(agent) == ahash and hmac.compare_digest(mac, _mac(secret, ticket_id, agent)):
            return TokenRef(ticket_id, agent.lower())
    return None


def find_token(text: str) -> str | None:
    """A token-shaped substring (in a sub-address or a Message-ID), not yet verified."""
    m = _TOKEN.search(text.lower())
    return m.group(0) if m else None
