"""Server-side sessions (SPEC 15): the cookie carries 256 random bits, the database their
sha256, who it is (agent or customer), the CSRF secret and the chosen language.

Blocking: called on the HTTP thread pool. A new session is made at every login (never an
id the browser brought: no fixation); logout deletes the row, so the cookie stops working
in every tab and copy at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from maildesk.store.db import Database
from maildesk.store.models import WebSession, utcnow

__all__ = ["LIFETIME", "SessionInfo", "end", "end_all", "find", "set_lang", "start"]

LIFETIME = timedelta(hours=12)  # from login, however busy; then a new link or password
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often


@dataclass(frozen=True)
class SessionInfo:
    id: int
    kind: str  # agent | customer
    address: str
    csrf: str
    lang: str | None
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def start(db: Database, kind: str, address: str, lang: str | None) -> str:
    """A new session; returns the cookie value (shown to nobody else, stored hashed)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with db.transaction() as session:
        session.execute(delete(WebSession).where(WebSession.expires_at < now))
        session.add(WebSession(token_hash=_hash(token), kind=kind, address=address.lower(),
                               csrf=secrets.token_urlsafe(32), lang=lang, created_at=now,
                               last_seen_at=now, expires_at=now + LIFETIME))
    return token


def find(db: Database, token: str | None, idle: float | None = None) -> SessionInfo | None:
    """The session of this cookie, unless it is past its lifetime or was not used for
    `idle` seconds (`web.session_idle`): such a row is deleted, so a later request with
    the same cookie finds nothing either. `last_seen_at` is written at most once a minute
    (TOUCH_EVERY), so an idle limit holds to about a minute."""
    if not token or len(token) > 100:
        return None
    now = utcnow()
    with db.reading() as session:
        row = session.execute(select(WebSession).where(
            WebSession.token_hash == _hash(token))).scalar_one_or_none()
        if row is None or row.expires_at <= now:
            return None
        info = SessionInfo(row.id, row.kind, row.address, row.csrf, row.lang, row.expires_at)
        unused = now - row.last_seen_at
    if idle is not None and unused > timedelta(seconds=idle):
        end(db, info.id)
        return None
    if unused > TOUCH_EVERY:
        with db.transaction() as session:
            session.execute(update(WebSession).where(WebSession.id == info.id)
                            .values(last_seen_at=now))
    return info


def set_lang(db: Database, session_id: int, lang: str) -> None:
    with db.transaction() as session:
        session.execute(update(WebSession).where(WebSession.id == session_id)
                        .values(lang=lang))


def end(db: Database, session_id: int) -> None:
    with db.transaction() as session:
        session.execute(delete(WebSession).where(WebSession.id == session_id))


def end_all(db: Database, address: str) -> int:
    """Every session of this person, on every device (the "sign out everywhere" form)."""
    from maildesk.store.db import rowcount

    with db.transaction() as session:
        return rowcount(session.execute(delete(WebSession).where(
            WebSession.address == address.lower())))


def count(session: Session, address: str) -> int:
    from sqlalchemy import func

    return int(session.execute(select(func.count()).select_from(WebSession).where(
        WebSession.address == address.lower())).scalar() or 0)
