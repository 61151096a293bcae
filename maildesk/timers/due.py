"""Keeping a ticket's due times in step with the ticket.

`sync_ticket` derives the rows a ticket should have from its state and what just happened
to it (created, the customer wrote, an agent answered, somebody touched it), and writes
only the difference. It runs in the transaction of the change (see hooks.py), so a due
time exists exactly when its cause is committed. Rows of SLA clocks keep their progress:
a warning fired stays fired; pending stops a clock by keeping the business time left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk.config import Config
from maildesk.store.models import Ticket, Timer
from maildesk.timers.calendar import add_business, between_business
from maildesk.timers.policy import (
    SLA_CLOCKS,
    Sla,
    lock_timeout,
    queue_calendar,
    queue_level,
    queue_sla,
)

__all__ = ["PENDING_KINDS", "RowStore", "Touch", "arm", "load_rows", "sync_ticket"]

PENDING_KINDS = {"reminder": "pending reminder", "auto-close": "pending auto-close"}
RUNNING, WARNED, BREACHED = 0, 1, 2


@dataclass
class Touch:
    """What happened to a ticket in the transaction being committed."""

    created: bool = False
    customer_wrote: bool = False  # a follow-up (not the mail that created the ticket)
    agent_answered: bool = False
    changed: bool = False  # any change by anyone: keeps a lock alive


def load_rows(session: Session, ticket_ids: list[int]) -> dict[int, dict[str, Timer]]:
    """The due rows of many tickets in one query (a batch of the timers, a commit)."""
    out: dict[int, dict[str, Timer]] = {i: {} for i in ticket_ids}
    for start in range(0, len(ticket_ids), 500):
        chunk = ticket_ids[start:start + 500]
        for row in session.scalars(select(Timer).where(Timer.ticket_id.in_(chunk))):
            out[row.ticket_id][row.kind] = row
    return out


class RowStore(Protocol):
    """Where `sync_ticket` makes and drops rows: the session's unit of work (`OrmRows`), or
    the timers' bulk path, which writes a whole batch's changes with Core statements."""

    def make(self, ticket_id: int, kind: str, queue: str) -> Timer: ...

    def drop(self, row: Timer) -> None: ...


class OrmRows:
    def __init__(self, session: Session) -> None:
        self.session = session

    def make(self, ticket_id: int, kind: str, queue: str) -> Timer:
        row = Timer(ticket_id=ticket_id, kind=kind, queue=queue, stage=RUNNING)
        self.session.add(row)
        return row

    def drop(self, row: Timer) -> None:
        self.session.delete(row)


def sync_ticket(session: Session, config: Config, ticket: Ticket, touch: Touch,
                now: datetime, rows: dict[str, Timer] | None = None,
                store: RowStore | None = None) -> datetime | None:
    """Bring the ticket's rows in line; returns the earliest due time written, if any.
    `rows`: the ticket's current rows when the caller loaded them (see `load_rows`);
    `store`: where new and dropped rows go (default: the session)."""
    if rows is None:
        rows = {} if touch.created else load_rows(session, [ticket.id])[ticket.id]
    writer = _Writer(store or OrmRows(session), ticket, rows)
    closed = ticket.is_closed
    pending = ticket.state.startswith("pending")

    for kind, state in PENDING_KINDS.items():
        if ticket.state == state and ticket.pending_until is not None:
            writer.want(kind, due_at=ticket.pending_until)
        else:
            writer.drop(kind)

    timeout = lock_timeout(config)
    if ticket.locked and timeout and not closed:
        if "lock" not in rows or touch.changed:
            writer.want("lock", due_at=now + timedelta(seconds=timeout))
    else:
        writer.drop("lock")

    level = queue_level(config, ticket.queue)
    if level is not None and not closed and not pending and ticket.first_response_at is None:
        row = rows.get("level")
        if row is None or row.queue != ticket.queue:
            start = ticket.created_at if touch.created else now
            due = add_business(queue_calendar(config, ticket.queue), start, level[1])
            writer.want("level", due_at=due, reset=True)
    else:
        writer.drop("level")

    sla = queue_sla(config, ticket.queue) if not closed else None
    for clock in SLA_CLOCKS:
        _sync_clock(writer, sla, clock, ticket, touch, now, pending)
    return writer.earliest


def _sync_clock(writer: _Writer, sla: Sla | None, clock: str, ticket: Ticket, touch: Touch,
                now: datetime, pending: bool) -> None:
    duration = sla.duration(clock) if sla is not None else None
    row = writer.rows.get(clock)
    moved = row is not None and row.queue != ticket.queue  # the new queue's SLA, from now
    if sla is None or not duration:
        writer.drop(clock)
        return
    if clock == "first_response":
        running = ticket.first_response_at is None
    elif clock == "update":
        running = touch.customer_wrote or (row is not None and not touch.agent_answered)
    else:
        running = True
    if not running:
        writer.drop(clock)
        return
    calendar = sla.calendar
    if row is None or moved or (clock == "update" and touch.customer_wrote):
        start = ticket.created_at if touch.created else now
        row = writer.want(clock, due_at=None, reset=True)
        row.deadline = add_business(calendar, start, duration)
        arm(row, sla, start, duration)
    if pending and row.remaining is None:  # the clock stops; keep what is left
        left = between_business(calendar, now, row.deadline) if row.deadline else 0.0
        row.remaining = left if row.stage < BREACHED else min(left, 0.0)
        row.deadline = row.due_at = None
    elif not pending and row.remaining is not None:  # and runs on
        left, row.remaining = row.remaining, None
        if left > 0:
            row.deadline = add_business(calendar, now, left)
            arm(row, sla, now, left)
        else:
            row.deadline, row.due_at = now + timedelta(seconds=left), None
    writer.note(row.due_at)


def arm(row: Timer, sla: Sla, start: datetime, duration: float) -> None:
    """The next moment the clock needs attention: its warning, else its deadline."""
    if row.stage >= BREACHED:
        row.due_at = None
    elif row.stage == RUNNING and sla.warn_before and duration > sla.warn_before:
        row.due_at = add_business(sla.calendar, start, duration - sla.warn_before)
    else:
        row.due_at = row.deadline


class _Writer:
    def __init__(self, store: RowStore, ticket: Ticket, rows: dict[str, Timer]) -> None:
        self.store, self.ticket, self.rows = store, ticket, rows
        self.earliest: datetime | None = None

    def note(self, due: datetime | None) -> None:
        if due is not None and (self.earliest is None or due < self.earliest):
            self.earliest = due

    def want(self, kind: str, *, due_at: datetime | None, reset: bool = False) -> Timer:
        row = self.rows.get(kind)
        if row is None:
            row = self.store.make(self.ticket.id, kind, self.ticket.queue)
            self.rows[kind] = row
        elif reset:
            row.stage, row.remaining, row.queue = RUNNING, None, self.ticket.queue
        if row.due_at != due_at:
            row.due_at = due_at
        self.note(due_at)
        return row

    def drop(self, kind: str) -> None:
        row = self.rows.pop(kind, None)
        if row is not None:
            self.store.drop(row)
