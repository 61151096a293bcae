"""The durable outbox: rows written in the ticket's transaction, claimed and settled by
the sender outside of any transaction that sends.

A row is one message to one envelope recipient, so a permanent refusal of one address
fails exactly that row and nothing else. Claiming is a conditional UPDATE with a rowcount
check (`claimed_until` is a lease): portable across SQLite, PostgreSQL and MariaDB, and
two daemons on one database never both hold a row. A daemon that dies holding a lease
lets it expire; the row is sent again with the same Message-ID (at least once, never lost).
Leases are short and renewed while the sender works on them (`renew`); a daemon that
restarts takes back its own at once (`reclaim`), and one that stops hands back what it did
not start (`release`), so a restart never waits a lease out.
"""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    Update,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from maildesk.config import Config
from maildesk.core.tickets import record
from maildesk.events import DeliveryFailed
from maildesk.outbound.idsets import ids_in, ids_params, sized
from maildesk.outbound.queuing import enqueue
from maildesk.outbound.settled import settle_common
from maildesk.store.db import Database, execute_core
from maildesk.store.models import OutboxAttempt, OutboxMail, Ticket, utcnow

React = Callable[[Session, list[DeliveryFailed]], None]

__all__ = [
    "Claimed", "AttemptResult", "backoff", "claim_due", "claim_in", "claim_mark", "evolve",
    "enqueue", "outbox_rows", "reclaim", "release", "renew", "note_settle_failure",
    "settle", "settle_in", "worker_name",
]

SETTLE_LIMIT = 3  # a row whose settle failed this often is marked failed, not resent
LEASE = timedelta(seconds=60)  # renewed every third of it while the rows are worked on


def worker_name(config: Config | None = None) -> str:
    """Who claims: `host:pid` for a one-off pass; with `config`, the daemon's stable name
    (host and data folder), which a restarted daemon recognises as its own."""
    import hashlib
    import os

    if config is None:
        return f"{socket.gethostname()}:{os.getpid()}"[:128]
    folder = str(config.storage.path.resolve()).encode()
    return f"{socket.gethostname()[:80]}:serve:{hashlib.sha256(folder).hexdigest()[:12]}"


@dataclass(frozen=True)
class Claimed:
    id: int
    ticket_id: int | None
    kind: str
    mail_from: str
    recipients: list[str]
    raw: bytes
    attempts: int
    created_at: datetime
    claim: str = ""  # the pass's mark on the row (for renew and release)
    message_id: str = ""
    spec: str | None = None  # what to send, when raw is still empty (outbound/deferred.py)
    fresh: bool = False  # rendered by this pass: settle keeps the bytes in the row


def claim_due(db: Database, worker: str, limit: int = 100, lease: timedelta = LEASE,
              claim: str | None = None) -> list[Claimed]:
    """Take up to `limit` due rows for this worker; commits before returning. `claim` is
    the mark put on them (`claim_mark`; the sender keeps one for its life, so one renewal
    or release covers every row it holds), else a new one."""
    with db.transaction() as session:
        return claim_in(session, worker, limit, lease, claim)


def claim_in(session: Session, worker: str, limit: int = 100, lease: timedelta = LEASE,
             claim: str | None = None) -> list[Claimed]:
    """`claim_due` in the caller's transaction (the sender's claimer settles the outcomes
    of its lanes in the same one: outbound/batches.py)."""
    now = utcnow()
    claim = claim or claim_mark(worker)
    # Cached Core statements on the session's connection (execute_core), past the ORM's
    # layer: the caller's session holds no unflushed change of these rows (issue 20).
    ids = [r[0] for r in execute_core(session, _claim_statements(limit, None)[0], {"now": now})]
    if not ids:
        return []
    # One conditional UPDATE for the batch: a row another daemon took in between no longer
    # matches (its lease is live), so only rows marked with `claim` are ours (row by row
    # this held SQLite's one write lock for 40 ms per hundred rows).
    _, take, taken = _claim_statements(limit, size := sized(len(ids)))
    execute_core(session, take, ids_params(ids, size, now=now, claim=claim, until=now + lease))
    return [Claimed(r.id, r.ticket_id, r.kind, r.mail_from, _recipients(r.rcpt_json), bytes(r.raw),
                    r.attempts, r.created_at, claim, r.message_id, r.spec_json)
            for r in execute_core(session, taken, ids_params(ids, size, claim=claim))]


def _recipients(text: str) -> list[str]:
    """`json.loads` of a row's recipients, `["one@address"]` without the decoder (issue 20:
    ~2 -> 0.4 us): no quote, backslash or control character in it, so it is its text."""
    inner = text[2:-2]
    if len(text) > 3 and text[:2] == '["' and text[-2:] == '"]' and inner.isprintable() \
            and '"' not in inner and "\\" not in inner:
        return [inner]
    return json.loads(text)  # type: ignore[no-any-return]


def _still_queued() -> ColumnElement[bool]:
    """`state = 'queued'` for rows found by id. The column is wrapped (it is NOT NULL: the
    same value) because SQLite, without statistics, otherwise takes ix_outbox_due for it
    and walks every queued row to test the ids: a claim, a renewal, a settle failure each
    cost O(backlog), a claim 4x after 40,000 mails deferred behind a relay that is down."""
    return func.coalesce(OutboxMail.state, "") == "queued"


@lru_cache(maxsize=32)
def _claim_statements(limit: int, size: int | None
                      ) -> tuple[Select[tuple[int]], Update, Select[Any]]:
    """`claim_due`'s SELECT of due ids, its UPDATE and its SELECT of the rows taken, built
    once (Core, bound parameters): built per claim, the ORM expressions, a bound parameter
    per id and their cache keys cost a third of a claim's CPU besides its commit. The ids
    `size` bound parameters (outbound/idsets.py), or one expanding one."""
    c = _OUTBOX.c
    now = bindparam("now", type_=c.next_attempt_at.type)
    due = or_(c.claimed_until.is_(None), c.claimed_until < now)
    order = (c.next_attempt_at, c.id)
    return (
        select(c.id).where(c.state == "queued", c.next_attempt_at <= now, due)
        .order_by(*order).limit(limit),
        update(_OUTBOX).where(ids_in(c.id, size), _still_queued(), due)
        .values(claimed_by=bindparam("claim", type_=c.claimed_by.type),
                claimed_until=bindparam("until", type_=c.claimed_until.type)),
        select(c.id, c.ticket_id, c.kind, c.mail_from, c.rcpt_json, c.raw, c.attempts,
               c.created_at, c.message_id, c.spec_json)
        .where(ids_in(c.id, size),
               c.claimed_by == bindparam("claim", type_=c.claimed_by.type))
        .order_by(*order),
    )


def claim_mark(worker: str) -> str:
    """A new mark for rows claimed by `worker` (`reclaim` knows its own by the prefix)."""
    return f"{worker[:110]}/{secrets.token_hex(8)}"


def renew(db: Database, claim: str, ids: list[int], lease: timedelta = LEASE) -> int:
    """Extend the lease of rows this pass still holds; the number renewed."""
    if not ids:
        return 0
    with db.transaction() as session:
        result = session.execute(
            update(OutboxMail)
            .where(OutboxMail.id.in_(ids), OutboxMail.claimed_by == claim, _still_queued())
            .values(claimed_until=utcnow() + lease)
            .execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0)


def release(db: Database, claim: str, ids: list[int]) -> None:
    """Hand back rows this pass claimed but never tried (a stop): due again at once."""
    if not ids:
        return
    with db.transaction() as session:
        session.execute(
            update(OutboxMail)
            .where(OutboxMail.id.in_(ids), OutboxMail.claimed_by == claim)
            .values(claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False))


def reclaim(db: Database, worker: str) -> int:
    """At start-up: leases held under this daemon's name belong to its previous life (it
    was killed), so they are free now rather than when they run out. Returns how many."""
    prefix = f"{worker[:110]}/"
    with db.transaction() as session:
        held = session.execute(
            select(OutboxMail.id, OutboxMail.claimed_by)
            .where(OutboxMail.state == "queued", OutboxMail.claimed_by.is_not(None))
        ).all()
        ids = [row.id for row in held if str(row.claimed_by).startswith(prefix)]
        if ids:
            session.execute(
                update(OutboxMail).where(OutboxMail.id.in_(ids))
                .values(claimed_by=None, claimed_until=None)
                .execution_options(synchronize_session=False))
    return len(ids)


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt came to: sent, retry later (temporary), or failed for good."""

    id: int
    result: str  # sent | retry | failed
    error: str | None = None
    raw: bytes | None = None  # the bytes the sender rendered from the row's spec, to keep
    built: bool = True  # False: the sender could not render the row (a template error)


_Row = TypeVar("_Row", Claimed, AttemptResult)
_FIELDS: dict[type, frozenset[str]] = {
    cls: frozenset(f.name for f in fields(cls)) for cls in (Claimed, AttemptResult)}


def evolve(row: _Row, **changes: Any) -> _Row:
    """`dataclasses.replace(row, **changes)` for these two frozen dataclasses (every field
    set by `__init__`, no `__post_init__`): a copy of the instance's dict with `changes`,
    ~0.6 us instead of ~3.4 us for a `Claimed`, which `replace` rebuilds field by field
    through `__init__`. Per mail in the event loop and the renderer (issue 20)."""
    if not changes.keys() <= _FIELDS[type(row)]:
        raise TypeError(f"{type(row).__name__} has no field {sorted(changes)}")
    new = object.__new__(type(row))
    new.__dict__.update(row.__dict__, **changes)
    return new


def backoff(config: Config, attempts: int) -> float:
    """Seconds before the next try: retry_first, doubling, capped at retry_max."""
    first = max(config.outbound.retry_first, 0.0)
    return min(first * (2 ** max(attempts - 1, 0)), config.outbound.retry_max)


def settle(db: Database, config: Config, outcomes: list[AttemptResult],
           react: React | None = None) -> list[int]:
    """Record the attempts and move rows on, in one transaction; returns the ids that
    failed for good (for logging). A row that failed gets a history entry and a
    `DeliveryFailed` event, which `react` (the sender passes `dispatch`) turns into mail
    in the same transaction: the outbox itself never composes mail."""
    with db.transaction() as session:
        return settle_in(session, config, outcomes, react)


def settle_in(session: Session, config: Config, outcomes: list[AttemptResult],
              react: React | None = None) -> list[int]:
    """`settle` in the caller's transaction (see `claim_in`)."""
    now = utcnow()
    rest = settle_common(session, outcomes, now, delay=lambda n: backoff(config, n),
                         give_up_after=config.outbound.give_up_after)
    return settle_each(session, config, rest, now, react) if rest else []


def settle_each(session: Session, config: Config, outcomes: list[AttemptResult],
                now: datetime, react: React | None = None) -> list[int]:
    """Row by row through the unit of work: what `settle_common` leaves, and its yardstick
    (tests/outbound/test_settled.py)."""
    failed: list[int] = []
    events: list[DeliveryFailed] = []
    loaded = session.execute(  # one SELECT for the batch, not one per row
        select(OutboxMail).where(OutboxMail.id.in_([o.id for o in outcomes]))
    ).scalars() if outcomes else ()
    rows = {row.id: row for row in loaded}
    for outcome in outcomes:
        row = rows.get(outcome.id)
        if row is None:
            continue
        session.add(OutboxAttempt(outbox_id=row.id, at=now, ok=outcome.result == "sent",
                                  error=outcome.error))
        row.attempts += 1
        row.claimed_by = row.claimed_until = None
        if outcome.raw is not None and not row.raw:
            row.raw = outcome.raw  # what went out (or will, on the next attempt)
        if not outcome.built and row.attempts == 1 and row.ticket_id:
            ticket = session.get(Ticket, row.ticket_id)
            if ticket is not None:  # the first time only: retries say it in the outbox
                what = {"autoreply": "auto-response"}.get(row.kind, row.kind)
                record(session, ticket, f"{what} failed", to=row.to_addr, outbox=row.id,
                       error=(outcome.error or "")[:500])
        if row.state != "queued":
            continue  # settled by someone else while our lease had run out
        if outcome.result == "sent":
            row.state, row.sent_at = "sent", now
            row.last_error = outcome.error  # e.g. a note from the relay; usually None
            continue
        row.last_error = outcome.error
        give_up = now - row.created_at >= timedelta(seconds=config.outbound.give_up_after)
        if outcome.result == "retry" and not give_up:
            row.next_attempt_at = now + timedelta(seconds=backoff(config, row.attempts))
            continue
        row.state = "failed"
        failed.append(row.id)
        ticket = session.get(Ticket, row.ticket_id) if row.ticket_id else None
        if ticket is not None:
            why = "gave up after retries" if outcome.result == "retry" else "refused"
            record(session, ticket, "delivery failed", outbox=row.id, kind=row.kind,
                   to=row.to_addr, error=(outcome.error or "")[:500], reason=why)
            events.append(DeliveryFailed(ticket, row))
    if events and react is not None:
        react(session, events)
    return failed


_OUTBOX = cast(Table, OutboxMail.__table__)


def note_settle_failure(db: Database, ids: list[int], error: str,
                        limit: int = SETTLE_LIMIT) -> list[int]:
    """Count a failed settle against each row; rows at `limit` become failed with the
    reason. Without this a settle bug resends the same mails every lease, for ever: the
    relay took them, but the outbox never learns (issue 11). Returns the rows marked."""
    reason = f"settle failed {limit} times (the relay may have taken the mail): {error}"[:2000]
    with db.transaction() as session:
        session.execute(
            update(OutboxMail)
            .where(OutboxMail.id.in_(ids), _still_queued())
            .values(settle_failures=OutboxMail.settle_failures + 1)
            .execution_options(synchronize_session=False))
        marked = list(session.execute(
            select(OutboxMail.id).where(OutboxMail.id.in_(ids), _still_queued(),
                                        OutboxMail.settle_failures >= limit)).scalars())
        if marked:
            session.execute(
                update(OutboxMail).where(OutboxMail.id.in_(marked))
                .values(state="failed", last_error=reason, claimed_by=None,
                        claimed_until=None)
                .execution_options(synchronize_session=False))
    return marked


def outbox_rows(session: Session, state: str | None = None) -> list[dict[str, object]]:
    """The outbox as `maildesk outbox` prints it (SPEC 11), oldest first."""
    query = (select(OutboxMail, Ticket.number)
             .outerjoin(Ticket, Ticket.id == OutboxMail.ticket_id)
             .order_by(OutboxMail.id))
    if state:
        query = query.where(OutboxMail.state == state)
    out: list[dict[str, object]] = []
    for row, number in session.execute(query):
        out.append({
            "id": row.id,
            "ticket": number,
            "to": row.to_addr,
            "subject": row.subject,
            "message_id": row.message_id,
            "kind": row.kind,
            "state": row.state,
            "attempts": row.attempts,
            "settle_failures": row.settle_failures,
            "last_error": row.last_error,
            "next_attempt_at": _iso(row.next_attempt_at) if row.state == "queued" else None,
            "created_at": _iso(row.created_at),
            "sent_at": _iso(row.sent_at),
        })
    return out


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.replace(microsecond=0).isoformat() + "Z"
