"""Ticket counts by queue and state (`ticket_counts`), kept in the transaction that changes
them, so the queue overview reads a few dozen rows instead of counting every ticket
(issue 16: 2.9 s on 1,000,000 tickets before, bench/web.py).

One place keeps them: an `after_flush` hook on the sessions of `Database`. Every ticket the
ORM inserts, or whose `queue` or `state` it updates (the columns keep their old value:
`active_history`, set below), adds +1 to its new (queue, state) and -1 to its old one, with one
upsert per changed row, in the same flush and so in the same transaction: a rollback
takes the counts back with the change. Writes that bypass the ORM call `add` with their
deltas in their transaction, or `rebuild` afterwards (a bulk load, a restore); `drift`
tells whether the counts still agree.

Each (queue, state) is spread over `SLOTS` rows by ticket id, so concurrent transactions
on different tickets seldom wait on the same row lock; readers sum the slots.

The deltas are written at the commit (`before_commit`), all of them, in one order, not as
each flush finds them. A group commit (maildesk/batch.py) holds many mails in one
transaction: written per flush, each took its count row's lock in the middle of the
transaction, and on PostgreSQL two ingest threads deadlocked on those rows and the
auto-responses' counters (issue 20: `bench/databases.py`, one daemon, a deadlock about
every second, each one `deadlock_timeout`, 1 s, of every thread's time). Taken last, in
order, a count row's lock is never held while its transaction waits for another lock
taken earlier. Inside a savepoint they are still written at once: it may roll back.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    String,
    Table,
    delete,
    event,
    func,
    insert,
    inspect,
    literal_column,
    select,
)
from sqlalchemy.orm import Mapped, Session, UOWTransaction, mapped_column

from maildesk.store import lean
from maildesk.store.models import Base, Ticket, Timer

__all__ = ["SLOTS", "TicketCount", "add", "after_flush", "before_commit", "counts", "drift",
           "install", "rebuild"]

SLOTS = 8
Key = tuple[str, str, int]
_PENDING = "maildesk.rollup.pending"  # session.info: deltas waiting for the commit
_NOW = "maildesk.rollup.now"  # session.info: the commit is under way, write at once
_HOOKED = "maildesk.rollup.hooked"  # session.info: `install`'s hooks will write the deltas


# The overview's escalated count reads only breached clocks (here: models.py is at its cap).
Index("ix_timers_stage_kind", Timer.stage, Timer.kind, Timer.ticket_id)


def _keep_old(_target: Ticket, value: str, _old: str, _initiator: object) -> str:
    return value


for _column in (Ticket.queue, Ticket.state):  # an update knows the value it replaces
    event.listen(_column, "set", _keep_old, active_history=True, retval=True)


class TicketCount(Base):
    """Tickets of a queue in a state, spread over `slot`s (ticket id modulo SLOTS) that a
    reader sums. (Here, not in models.py: that module is at its size cap; `store.db` and
    the migrations' env import this one, so the table is always in the metadata.)"""

    __tablename__ = "ticket_counts"

    queue: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(32), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


def after_flush(session: Session, _flush: UOWTransaction) -> None:
    """The session event: the deltas of this flush, for `add`."""
    deltas: Counter[Key] = Counter()
    for obj in session.new:
        if isinstance(obj, Ticket) and obj.id is not None:
            deltas[(obj.queue, obj.state, obj.id % SLOTS)] += 1
    for obj in session.deleted:
        if isinstance(obj, Ticket) and obj.id is not None:
            old_queue, old_state = _old(obj)
            deltas[(old_queue, old_state, obj.id % SLOTS)] -= 1
    for obj in session.dirty:
        if not isinstance(obj, Ticket) or obj in session.new or obj in session.deleted:
            continue
        old_queue, old_state = _old(obj)
        if (old_queue, old_state) != (obj.queue, obj.state):
            slot = obj.id % SLOTS
            deltas[(old_queue, old_state, slot)] -= 1
            deltas[(obj.queue, obj.state, slot)] += 1
    add(session, deltas)


def install(sessions: Any) -> None:
    """The hooks on a sessionmaker: deltas collected by every flush, written at the commit."""
    event.listen(sessions, "after_flush", after_flush)
    event.listen(sessions, "before_commit", before_commit)
    event.listen(sessions, "after_transaction_end", _forget)
    sessions.kw.setdefault("info", {})[_HOOKED] = True  # each session's info starts so


def add(session: Session, deltas: Counter[Key]) -> None:
    """Apply (queue, state, slot) -> +/-n in this transaction: the flush hook's deltas, and
    those of Core writes that bypass the ORM (the timers' bulk path: maildesk/timers/bulk.py).
    Kept for the commit (`before_commit`) unless it is under way, a savepoint is open or
    the session has no hooks (not one of `Database`'s)."""
    info = session.info
    if info.get(_HOOKED) and not info.get(_NOW) and not session.in_nested_transaction():
        pending: dict[Key, int] = info.setdefault(_PENDING, {})
        for key, n in deltas.items():
            if n:
                pending[key] = pending.get(key, 0) + n
        return
    _write(session, deltas)


def before_commit(session: Session) -> None:
    """Flush what is left, then write every delta kept, in one order; the flushes after
    this one (the timers' hook, the commit's own) write theirs at once."""
    if session.in_nested_transaction():
        return  # a savepoint's release: its outer transaction commits them
    session.flush()
    pending: dict[Key, int] | None = session.info.pop(_PENDING, None)
    session.info[_NOW] = True
    if pending:
        _write(session, pending)


def _forget(session: Session, transaction: Any) -> None:
    """The end of the outer transaction, committed or rolled back: nothing is kept."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_NOW, None)


def _write(session: Session, deltas: Mapping[Key, int]) -> None:
    changes = sorted((key, n) for key, n in deltas.items() if n)  # one lock order
    if not changes:
        return
    statement = _upsert(session.get_bind().dialect.name)
    connection = session.connection()  # an INSERT: no deferred rows to write first
    for (queue, state, slot), n in changes:
        lean.execute(connection, statement, {"queue": queue, "state": state, "slot": slot,
                                             "n": n})


def _old(ticket: Ticket) -> tuple[str, str]:
    """Queue and state as the database had them before this flush."""
    attrs = inspect(ticket).attrs
    values = []
    for name in ("queue", "state"):
        history = attrs[name].history
        values.append(history.deleted[0] if history.deleted else getattr(ticket, name))
    return values[0], values[1]


@functools.cache
def _upsert(dialect: str) -> Any:
    """INSERT the delta, or add it to the row that is there: one statement per backend."""
    table = cast(Table, TicketCount.__table__)
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(table)
        return pg.on_conflict_do_update(index_elements=["queue", "state", "slot"],
                                        set_={"n": table.c.n + pg.excluded.n})
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite = sqlite_insert(table)
        return lite.on_conflict_do_update(index_elements=["queue", "state", "slot"],
                                          set_={"n": table.c.n + lite.excluded.n})
    from sqlalchemy.dialects.mysql import insert as mysql_insert

    my = mysql_insert(table)
    return my.on_duplicate_key_update(n=table.c.n + my.inserted.n)


def counts(session: Session, queues: list[str]) -> dict[tuple[str, str], int]:
    """(queue, state) -> tickets, for these queues."""
    rows = session.execute(
        select(TicketCount.queue, TicketCount.state, func.sum(TicketCount.n))
        .where(TicketCount.queue.in_(queues))
        .group_by(TicketCount.queue, TicketCount.state))
    return {(queue, state): int(n or 0) for queue, state, n in rows}


def rebuild(session: Session) -> None:
    """Counts from the tickets themselves (after writes that bypassed the ORM)."""
    session.execute(delete(TicketCount))
    modulo = Ticket.id % literal_column(str(SLOTS))  # one expression, not two parameters
    grouped = (select(Ticket.queue, Ticket.state, modulo, func.count())
               .group_by(Ticket.queue, Ticket.state, modulo))
    session.execute(insert(TicketCount).from_select(["queue", "state", "slot", "n"], grouped))


def drift(session: Session) -> dict[tuple[str, str], tuple[int, int]]:
    """Where the counts disagree with the tickets: (queue, state) -> (kept, counted)."""
    counted = {(q, s): int(n) for q, s, n in session.execute(
        select(Ticket.queue, Ticket.state, func.count()).group_by(Ticket.queue, Ticket.state))}
    kept = {(q, s): int(n or 0) for q, s, n in session.execute(
        select(TicketCount.queue, TicketCount.state, func.sum(TicketCount.n))
        .group_by(TicketCount.queue, TicketCount.state))}
    return {key: (kept.get(key, 0), counted.get(key, 0))
            for key in set(counted) | set(kept) if kept.get(key, 0) != counted.get(key, 0)}
