"""API tokens: made once, kept as hashes, limited to queues and a scope (SPEC 14).

A token is `mdk_` + 43 URL-safe characters (256 random bits). The database keeps its
sha256 only: the token carries all the entropy, so a fast hash is as safe as a slow one
and costs nothing per request. Plain SQLAlchemy: the CLI imports this without the web stack.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, bindparam, select, update
from sqlalchemy.orm import Session

from maildesk.store.db import rowcount
from maildesk.store.models import ApiToken, dumps, utcnow

__all__ = ["Caller", "SCOPES", "create", "find", "hash_token", "listing", "revoke", "touch"]

SCOPES = ("read", "write")
PREFIX = "mdk_"
TOUCH_EVERY = timedelta(seconds=60)  # last_used_at is written at most this often


@dataclass(frozen=True)
class Caller:
    """Who is asking over HTTP: one token, its scope, its queues (empty: every queue)."""

    id: int
    name: str
    scope: str
    queues: tuple[str, ...]
    last_used_at: datetime | None

    def may_write(self) -> bool:
        return self.scope == "write"

    def sees(self, queue: str) -> bool:
        return not self.queues or queue in self.queues

    @property
    def actor(self) -> str:
        """How history names this caller."""
        return f"api:{self.name}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def create(session: Session, name: str, scope: str, queues: list[str]) -> str:
    """A new token; the only time its text exists outside the caller's hands."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    if session.execute(select(ApiToken.id).where(ApiToken.name == name,
                                                 ApiToken.revoked_at.is_(None))).first():
        raise ValueError(f"a token named {name!r} exists; revoke it first")
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=hash_token(token), prefix=token[:10],
                         scope=scope, queues_json=dumps(sorted(set(queues))),
                         created_at=utcnow()))
    session.flush()
    return token


# Every API request runs this: built once, and read as a plain row rather than an ORM
# object (issue 15: the statement's construction cost more than the query).
_FIND = select(ApiToken.id, ApiToken.name, ApiToken.scope, ApiToken.queues_json,
               ApiToken.last_used_at).where(ApiToken.token_hash == bindparam("token_hash"),
                                            ApiToken.revoked_at.is_(None))


def find(session: Session, token: str) -> Caller | None:
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = session.execute(_FIND, {"token_hash": hash_token(token)}).one_or_none()
    if row is None:
        return None
    queues = json.loads(row.queues_json or "[]")
    return Caller(row.id, row.name, row.scope, tuple(queues), row.last_used_at)


def touch(session: Session, token_id: int) -> None:
    session.execute(update(ApiToken).where(ApiToken.id == token_id)
                    .values(last_used_at=utcnow()))


def revoke(session: Session, name: str) -> int:
    """Revoked tokens stay listed (who had access, until when); returns how many."""
    result: CursorResult[Any] = session.execute(update(ApiToken)  # type: ignore[assignment]
                             .where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
                             .values(revoked_at=utcnow()))
    return rowcount(result)


def listing(session: Session) -> list[dict[str, object]]:
    from maildesk.views import iso

    rows = session.execute(select(ApiToken).order_by(ApiToken.name, ApiToken.id)).scalars()
    return [{"name": r.name, "prefix": r.prefix, "scope": r.scope, "queues": r.queues,
             "created_at": iso(r.created_at), "last_used_at": iso(r.last_used_at),
             "revoked_at": iso(r.revoked_at)} for r in rows]
