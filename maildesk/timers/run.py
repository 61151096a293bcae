"""Running what is due: claim due rows, act, commit; and what is due next.

Exactly once with several daemons (or a cron `timers run` beside them): rows are taken with
`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL and MariaDB, so two daemons take disjoint
rows and each row's action commits together with the row's removal or advance; SQLite has
one writer at a time (BEGIN IMMEDIATE), so the second runner sees the row already gone.
Reminders and auto-closes of a batch are acted on with statements over the whole batch
(bulk.py); the other kinds row by row (actions.py).
A row whose action fails (a bug) is pushed back and logged; it never blocks the rest.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from maildesk.runtime import RUNTIME_KEY, Runtime
from maildesk.store.db import Database, is_conflict
from maildesk.store.models import Ticket, Timer, utcnow
from maildesk.timers.actions import fire
from maildesk.timers.bulk import PENDING, Claimed, fire_pending

__all__ = ["BATCH", "Source", "next_due", "run_due", "run_due_on", "run_until_idle",
           "upcoming"]


class Source(Protocol):
    """Where a timer run takes the runtime of the moment (the process's App)."""

    @property
    def runtime(self) -> Runtime: ...

log = logging.getLogger("maildesk.timers")

BATCH = 500  # rows per transaction
RETRY_AFTER = timedelta(minutes=5)  # a row whose action failed is tried again after this


def _claim(session: Session, now: datetime, limit: int, ids: list[int] | None = None
           ) -> list[Claimed]:
    query = (select(Timer.id, Timer.ticket_id, Timer.kind).where(Timer.due_at <= now)
             .order_by(Timer.due_at, Timer.id))
    if ids is not None:
        query = query.where(Timer.id.in_(ids))
    query = query.limit(limit)
    if session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True)
    return [Claimed(*row) for row in session.execute(query)]


def _fire_batch(rt: Runtime, now: datetime, limit: int, ids: list[int] | None = None
                ) -> Counter[str]:
    def work(session: Session) -> Counter[str]:
        session.info[RUNTIME_KEY] = rt
        claimed = _claim(session, now, limit, ids)
        done: Counter[str] = Counter()
        # Reminders and auto-closes in bulk (bulk.py); a ticket with any other kind of row
        # in the batch (an SLA clock, a level, a lock) goes row by row, all its rows.
        mixed = {r.ticket_id for r in claimed if r.kind not in PENDING}
        bulk = [r for r in claimed if r.kind in PENDING and r.ticket_id not in mixed]
        if bulk:
            done.update(fire_pending(session, rt, bulk, now))
        one = [r.id for r in claimed if r.ticket_id in mixed]
        if not one:
            return done
        rows = list(session.scalars(select(Timer).where(Timer.id.in_(one))
                                    .order_by(Timer.due_at, Timer.id)))
        wanted = {r.ticket_id for r in rows}
        tickets = {t.id: t for t in session.scalars(select(Ticket).where(Ticket.id.in_(wanted)))}
        # One flush at the end (and where a mail needs its row id), not one per history
        # line: autoflush re-wrote each dirty ticket for every statement of the batch.
        with session.no_autoflush:
            for row in rows:
                done[fire(session, rt, row, tickets.get(row.ticket_id), now)] += 1
        return done

    return rt.db.run(work)


def run_due(app: Source, now: datetime | None = None, limit: int = BATCH) -> Counter[str]:
    """One batch of what is due at `now`, on the runtime of this moment."""
    return run_due_on(app.runtime, now, limit)


def run_due_on(rt: Runtime, now: datetime | None = None, limit: int = BATCH) -> Counter[str]:
    """One batch of what is due at `now` on `rt`, the runtime the caller captured for this
    run (a reload meanwhile applies to the next one); counts by outcome (their sum: rows
    handled)."""
    now = now or utcnow()
    try:
        return _fire_batch(rt, now, limit)
    except Exception as exc:
        if is_conflict(exc) or _transient(exc):
            raise
        log.exception("a batch of due times failed; trying them one by one")
    return _one_by_one(rt, now, limit)


def _one_by_one(rt: Runtime, now: datetime, limit: int) -> Counter[str]:
    with rt.db.reading() as session:
        ids = list(session.scalars(select(Timer.id).where(Timer.due_at <= now)
                                   .order_by(Timer.due_at, Timer.id).limit(limit)))
    done: Counter[str] = Counter()
    for timer_id in ids:
        try:
            done.update(_fire_batch(rt, now, 1, [timer_id]))
        except Exception:
            log.exception("due time %d failed; trying it again in %s", timer_id, RETRY_AFTER)
            with rt.db.transaction() as session:
                session.execute(update(Timer).where(Timer.id == timer_id)
                                .values(due_at=now + RETRY_AFTER))
            done["failed"] += 1
    return done


def _transient(exc: BaseException) -> bool:
    from maildesk.store.dberrors import is_transient

    return is_transient(exc)


def run_until_idle(app: Source, now: datetime | None = None, limit: int = BATCH) -> Counter[str]:
    """Every batch due at `now` (`maildesk timers run`, tests, benchmarks)."""
    total: Counter[str] = Counter()
    while True:
        done = run_due(app, now, limit)
        total.update(done)
        if sum(done.values()) < limit:
            return total


def next_due(db: Database) -> datetime | None:
    with db.reading() as session:
        value: datetime | None = session.scalar(select(func.min(Timer.due_at)))
        return value


def upcoming(db: Database, limit: int = 50) -> list[dict[str, object]]:
    """What is due next, soonest first (`maildesk timers`)."""
    with db.reading() as session:
        rows = session.execute(
            select(Timer, Ticket.number, Ticket.state)
            .join(Ticket, Ticket.id == Timer.ticket_id)
            .where(Timer.due_at.is_not(None))
            .order_by(Timer.due_at, Timer.id).limit(limit)
        ).all()
        return [{"ticket": number, "kind": row.kind, "queue": row.queue,
                 "due_at": _iso(row.due_at), "deadline": _iso(row.deadline),
                 "stage": ("running", "warned", "breached")[min(row.stage, 2)],
                 "state": state}
                for row, number, state in rows]


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
