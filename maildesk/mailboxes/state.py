"""The database side of fetching: position, lease and status of each mailbox.

A lease row makes one daemon at a time the fetcher of a mailbox when several share one
database; it runs out LEASE_SECONDS after the holder last renewed it, so another daemon takes
over within a minute of a crash. Every write of the position names the lease holder: a
daemon that lost its lease (paused for long, say) cannot move the position any more.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, or_, select, update

from maildesk.core.queries import known_message_ids
from maildesk.errors import Unavailable
from maildesk.store.db import Database, insert_ignore
from maildesk.store.models import MailboxState, MailboxUidl, utcnow

__all__ = ["LEASE_SECONDS", "LeaseLost", "Position", "MailboxStore"]

LEASE_SECONDS = 45.0  # a dead holder's mailboxes are taken over within this (plus a retry)
RENEW_EVERY = 15.0


class LeaseLost(Unavailable):
    """Another daemon holds this mailbox now: stop fetching it."""


@dataclass(frozen=True)
class Position:
    uidvalidity: int | None
    last_uid: int
    recheck_below: int


class MailboxStore:
    """The rows of one mailbox, written only by the holder of its lease (`owner`)."""

    def __init__(self, db: Database, name: str, owner: str) -> None:
        self.db = db
        self.name = name
        self.owner = owner

    def _ensure(self) -> None:
        with self.db.transaction() as session:
            insert_ignore(session, MailboxState, name=self.name, last_uid=0, recheck_below=0,
                          auth_failed=False, fetched=0)

    # -- lease -----------------------------------------------------------------------------

    def acquire(self) -> bool:
        """Take or renew the lease; False while another daemon's lease runs. A holder on
        this machine whose process is gone (a killed `fetch --once`) is not waited for."""
        self._ensure()
        now = utcnow()
        with self.db.transaction() as session:
            holder = session.execute(select(MailboxState.lease_owner)
                                     .where(MailboxState.name == self.name)).scalar()
            result = session.execute(
                update(MailboxState)
                .where(MailboxState.name == self.name)
                .where(or_(MailboxState.lease_owner.is_(None),
                           MailboxState.lease_owner == self.owner,
                           MailboxState.lease_until < now,
                           MailboxState.lease_owner == (holder if _dead_here(holder)
                                                        else self.owner)))
                .values(lease_owner=self.owner,
                        lease_until=now + timedelta(seconds=LEASE_SECONDS))
            )
            return _changed(result)

    def renew(self) -> None:
        if not self._fenced(lease_until=utcnow() + timedelta(seconds=LEASE_SECONDS)):
            raise LeaseLost(self.name)

    def release(self) -> None:
        self._fenced(lease_owner=None, lease_until=None)

    def _fenced(self, **values: Any) -> bool:
        with self.db.transaction() as session:
            result = session.execute(
                update(MailboxState)
                .where(MailboxState.name == self.name, MailboxState.lease_owner == self.owner)
                .values(**values))
            return _changed(result)

    # -- IMAP position ---------------------------------------------------------------------

    def position(self) -> Position:
        with self.db.reading() as session:
            row = session.execute(
                select(MailboxState.uidvalidity, MailboxState.last_uid,
                       MailboxState.recheck_below).where(MailboxState.name == self.name)
            ).first()
        if row is None:
            return Position(None, 0, 0)
        return Position(row[0], int(row[1]), int(row[2]))

    def reset(self, uidvalidity: int, recheck_below: int) -> None:
        """A new UIDVALIDITY: every UID is new; those up to `recheck_below` are looked up by
        Message-ID before their bodies are fetched again."""
        if not self._fenced(uidvalidity=uidvalidity, last_uid=0, recheck_below=recheck_below):
            raise LeaseLost(self.name)

    def advance(self, last_uid: int, count: int) -> None:
        """Commit the position after the mails up to `last_uid` are stored: from here on the
        server may forget them."""
        with self.db.transaction() as session:
            result = session.execute(
                update(MailboxState)
                .where(MailboxState.name == self.name, MailboxState.lease_owner == self.owner)
                .values(last_uid=last_uid, fetched=MailboxState.fetched + count,
                        lease_until=utcnow() + timedelta(seconds=LEASE_SECONDS)))
            if not _changed(result):
                raise LeaseLost(self.name)

    def known_message_ids(self, ids: Iterable[str]) -> set[str]:
        return known_message_ids(self.db, list(ids))

    # -- POP3 UIDLs ------------------------------------------------------------------------

    def known_uidls(self) -> set[str]:
        with self.db.reading() as session:
            return set(session.execute(
                select(MailboxUidl.uidl).where(MailboxUidl.mailbox == self.name)).scalars())

    def add_uidl(self, uidl: str) -> None:
        with self.db.transaction() as session:
            held = _changed(session.execute(
                update(MailboxState)
                .where(MailboxState.name == self.name, MailboxState.lease_owner == self.owner)
                .values(fetched=MailboxState.fetched + 1)))
            if not held:
                raise LeaseLost(self.name)
            insert_ignore(session, MailboxUidl, mailbox=self.name, uidl=uidl[:191],
                          seen_at=utcnow())

    def forget_uidls(self, gone: Iterable[str]) -> None:
        """UIDLs no longer on the server can never come back: their rows go."""
        gone = sorted(gone)
        with self.db.transaction() as session:
            for start in range(0, len(gone), 500):
                session.execute(delete(MailboxUidl).where(
                    MailboxUidl.mailbox == self.name,
                    MailboxUidl.uidl.in_(gone[start:start + 500])))

    # -- status ----------------------------------------------------------------------------

    def succeeded(self) -> None:
        self._ensure()
        self._status(last_success_at=utcnow(), auth_failed=False, last_error=None)

    def failed(self, error: str, *, auth: bool) -> None:
        self._ensure()
        self._status(last_error=error[:2000], last_error_at=utcnow(), auth_failed=auth)

    def _status(self, **values: Any) -> None:
        with self.db.transaction() as session:
            session.execute(update(MailboxState).where(MailboxState.name == self.name)
                            .values(**values))


def _changed(result: object) -> bool:
    """Rows an UPDATE matched (a CursorResult's rowcount; typed as plain Result)."""
    return bool(cast("CursorResult[Any]", result).rowcount)


def _dead_here(owner: str | None) -> bool:
    """`host:pid:nonce` of a process on this machine that no longer runs."""
    if not owner or owner.count(":") < 2:
        return False
    host, pid, _ = owner.rsplit(":", 2)
    if host != socket.gethostname()[:60] or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


def status_rows(db: Database, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """What `maildesk fetch --status` and the metrics show, by mailbox name."""
    names = list(names)
    now = utcnow()
    out: dict[str, dict[str, Any]] = {}
    with db.reading() as session:
        rows = session.execute(
            select(MailboxState).where(MailboxState.name.in_(names))).scalars().all()
        for row in rows:
            out[row.name] = {
                "last_success_at": _iso(row.last_success_at),
                "last_error": row.last_error,
                "last_error_at": _iso(row.last_error_at),
                "auth_failed": bool(row.auth_failed),
                "fetched": int(row.fetched),
                "uidvalidity": row.uidvalidity,
                "last_uid": int(row.last_uid),
                "lease_owner": row.lease_owner if row.lease_until and row.lease_until > now
                else None,
            }
    return out


def metric_rows(db: Database, names: list[str],
                ) -> dict[str, tuple[float | None, float | None, float, float]]:
    """Per mailbox: last success and last error as Unix times, login refused (0/1), fetched."""
    if not names:
        return {}
    with db.reading() as session:
        rows = session.execute(
            select(MailboxState.name, MailboxState.last_success_at, MailboxState.last_error_at,
                   MailboxState.auth_failed, MailboxState.fetched)
            .where(MailboxState.name.in_(names))).all()
    return {name: (_unix(ok), _unix(err), float(bool(auth)), float(fetched or 0))
            for name, ok, err, auth, fetched in rows}


def _unix(value: datetime | None) -> float | None:
    return None if value is None else value.replace(tzinfo=UTC).timestamp()


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.replace(microsecond=0).isoformat() + "Z"
