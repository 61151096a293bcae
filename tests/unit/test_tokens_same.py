"""Reply tokens made from a keyed HMAC's copy and a base32 table (issue 20) are the
tokens `hmac.new` and `base64.b32encode` made: the functions as they were are kept below
and compared on random secrets, tickets, agents and days, dated and undated."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from datetime import UTC, datetime, timedelta

from maildesk.tokens import _mac, make_token, verify_token

_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _mac_before(secret: bytes, ticket_id: int, agent: str, day: int | None = None) -> str:
    text = f"{ticket_id}:{agent.lower()}" + ("" if day is None else f":{day}")
    digest = hmac.new(secret, text.encode(), hashlib.sha256).digest()
    mac = base64.b32encode(digest[:10]).decode().lower()
    return mac if day is None else mac[:13]


def _token_before(secret: bytes, ticket_id: int, agent: str, now: datetime) -> str:
    day = (now.date() - _EPOCH.date()).days
    ahash = hashlib.sha256(agent.lower().encode()).hexdigest()[:8]
    day_text = "".join(_B32[(day >> shift) & 31] for shift in (15, 10, 5, 0))
    return f"t{ticket_id}a{ahash}{day_text}{_mac_before(secret, ticket_id, agent, day)}"


AGENTS = ["alice@example.com", "Bob.Smith@Example.COM", "josé@bücher.example", "x@y",
          "a+b@example.org", ""]


def test_mac_is_the_old_mac() -> None:
    rng = random.Random(20)
    secrets = [b"s" * 32, b"", b"\x00" * 100, rng.randbytes(16), rng.randbytes(64),
               rng.randbytes(65), rng.randbytes(200)]
    for _ in range(3000):
        secret = rng.choice(secrets)
        ticket_id = rng.choice([0, 1, 42, rng.randrange(10**18), rng.randrange(10**6)])
        agent = rng.choice(AGENTS)
        day = rng.choice([None, 0, 1, 20_000, rng.randrange(32**4)])
        assert _mac(secret, ticket_id, agent, day) == \
            _mac_before(secret, ticket_id, agent, day), (secret, ticket_id, agent, day)


def test_token_is_the_old_token_and_verifies() -> None:
    rng = random.Random(21)
    for n in range(500):
        secret = rng.randbytes(32) if n % 50 else b"k" * 32
        ticket_id = rng.randrange(1, 10**9)
        agent = rng.choice(AGENTS[:-1])
        now = _EPOCH + timedelta(days=rng.randrange(0, 40_000), seconds=rng.randrange(86400))
        token = make_token(secret, ticket_id, agent, now)
        assert token == _token_before(secret, ticket_id, agent, now)
        ref = verify_token(secret, token, ["other@example.com", agent])
        assert ref is not None and ref.ticket_id == ticket_id and ref.agent == agent.lower()
        assert ref.issued == now.date()
        assert verify_token(secret + b"x", token, [agent]) is None
