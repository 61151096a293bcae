"""Reply tokens: `queue+TOKEN@domain` bound to one agent and one ticket by an HMAC.

TOKEN = "t" + ticket id + "a" + 8 hex of sha256(agent) + 17 base32 characters: 4 for the
day it was made (days since 1970-01-01, to the year 4840) and 13 of
HMAC-SHA256(secret, "ticket:agent:day") (65 bits). Lowercase letters and digits only, so
every MTA keeps it intact. Unguessable without the instance secret, and it names no agent.
One character longer than the undated tokens, so a Message-ID with a token in front still
fits one header line where it did before.

The day lets a token expire (`instance.reply_token_max_age`, 90 days by default): a reply
address that leaked with an old mail stops acting for its agent. The MAC covers the day, so
nobody can make an old token young. Tokens made before the day was added (16 base32
characters of MAC, no day) are verified too, but carry no age: the agent check refuses
them as too old to tell.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from maildesk.reasons import N_, Reason

__all__ = ["TokenRef", "b32_40", "expiry_problem", "find_token", "hmac_sha256", "make_token",
           "verify_token"]

_TOKEN = re.compile(r"t(\d{1,18})a([0-9a-f]{8})([a-z2-7]{17}|[a-z2-7]{16})")
_EPOCH = date(1970, 1, 1)
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


@dataclass(frozen=True)
class TokenRef:
    ticket_id: int
    agent: str
    issued: date | None = None  # None: a token from before tokens carried their day


@functools.lru_cache(maxsize=1024)  # a handful of agents, a token per notification
def _agent_hash(agent: str) -> str:
    return hashlib.sha256(agent.lower().encode()).hexdigest()[:8]


# Two base32 characters per 10 bits: 80 bits (10 bytes) in 8 look-ups.
_B32_PAIRS = tuple(a + b for a in _B32 for b in _B32)


@functools.lru_cache(maxsize=8)  # one instance secret (a test makes a few)
def _keyed(secret: bytes) -> hmac.HMAC:
    """The HMAC with its key set up (two SHA-256 blocks), copied for each MAC."""
    return hmac.new(secret, digestmod=hashlib.sha256)


def hmac_sha256(secret: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 from a copy of the HMAC keyed once per secret (`hmac.new` sets the key
    up, two SHA-256 blocks, on every call): the reply tokens' and the VERP signatures'."""
    keyed = _keyed(secret).copy()
    keyed.update(message)
    return keyed.digest()


def b32_40(data: bytes) -> str:
    """The first 40 bits of `data` in lowercase base32, 8 characters: `b32encode(data[:5])`
    lowercased, by 4 look-ups (`base64.b32encode` is pure Python)."""
    n, pairs = int.from_bytes(data[:5], "big"), _B32_PAIRS
    return pairs[n >> 30] + pairs[(n >> 20) & 1023] + pairs[(n >> 10) & 1023] + pairs[n & 1023]


def _mac(secret: bytes, ticket_id: int, agent: str, day: int | None = None) -> str:
    """`base64.b32encode(HMAC-SHA256(secret, text)[:10])`, lowercase: 16 characters (13
    for a dated token). Made from a keyed HMAC's copy and a table, not `hmac.new` and
    `b32encode` each time (issue 20: ~5.5 us -> ~2 us a token; tests/unit/test_tokens_same.py
    compares)."""
    text = f"{ticket_id}:{agent.lower()}" + ("" if day is None else f":{day}")
    n = int.from_bytes(hmac_sha256(secret, text.encode())[:10], "big")
    pairs = _B32_PAIRS
    mac = (pairs[n >> 70] + pairs[(n >> 60) & 1023] + pairs[(n >> 50) & 1023]
           + pairs[(n >> 40) & 1023] + pairs[(n >> 30) & 1023] + pairs[(n >> 20) & 1023]
           + pairs[(n >> 10) & 1023] + pairs[n & 1023])
    return mac if day is None else mac[:13]


@functools.lru_cache(maxsize=64)  # a day's text, the same all day
def _day_text(day: int) -> str:
    return "".join(_B32[(day >> shift) & 31] for shift in (15, 10, 5, 0))


def _day_value(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + _B32.index(char)
    return value


def _today(now: datetime | None) -> int:
    return ((now or datetime.now(UTC)).date() - _EPOCH).days


def make_token(secret: bytes, ticket_id: int, agent: str, now: datetime | None = None) -> str:
    if not secret:
        raise ValueError("no instance secret: run `maildesk init`")
    day = _today(now)
    return f"t{ticket_id}a{_agent_hash(agent)}{_day_text(day)}{_mac(secret, ticket_id, agent, day)}"


def verify_token(secret: bytes, token: str, agents: list[str]) -> TokenRef | None:
    """The (ticket, agent) a token was made for, or None when it is not one of ours."""
    m = _TOKEN.fullmatch(token.lower())
    if not m or not secret:
        return None
    ticket_id, ahash, rest = int(m.group(1)), m.group(2), m.group(3)
    day = _day_value(rest[:4]) if len(rest) == 17 else None
    mac = rest[4:] if day is not None else rest
    for agent in agents:
        if _agent_hash(agent) == ahash and hmac.compare_digest(
                mac, _mac(secret, ticket_id, agent, day)):
            issued = None if day is None else _EPOCH + timedelta(days=day)
            return TokenRef(ticket_id, agent.lower(), issued)
    return None


def expiry_problem(ref: TokenRef, max_age: float | None, now: datetime | None = None
                   ) -> str | None:
    """Why a verified token no longer proves its agent (too old, or of unknown age), or None.
    `max_age` in seconds; None: tokens never expire. Said so the agent knows what to do."""
    if max_age is None:
        return None
    days = max_age / 86400
    if ref.issued is None:
        return Reason(N_("the reply token carries no date (it was made before reply tokens "
                         "expired): answer from a newer notification"))
    today = (now or datetime.now(UTC)).date()
    if (today - ref.issued).days > days:
        return Reason(N_("the reply token expired: made on %(day)s, older than %(days)s days; "
                         "answer from a newer notification"), day=ref.issued.isoformat(),
                      days=f"{days:g}")
    return None


def find_token(text: str) -> str | None:
    """A token-shaped substring (in a sub-address or a Message-ID), not yet verified."""
    m = _TOKEN.search(text.lower())
    return m.group(0) if m else None
