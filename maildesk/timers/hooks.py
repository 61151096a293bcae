"""Due times follow every ticket change, whichever entrance made it (mail, commands, the
API, the timers themselves): session events on the App's database collect the tickets a
transaction touched, `sync_ticket` runs for each just before the commit, and after the
commit the scheduler of this process is woken if a due time earlier than its plan was
written.

Why events rather than calls in each entrance: a ticket changed anywhere must not keep a
stale reminder or miss an SLA clock, and the entrances are being rewritten around a ticket
core; one hook on the session owner cannot be forgotten by a new one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, event, inspect, select
from sqlalchemy.orm import Session

from maildesk.config import Config
from maildesk.runtime import RUNTIME_KEY
from maildesk.store.db import Database
from maildesk.store.models import Article, OutboxMail, Ticket, Timer, utcnow
from maildesk.timers.due import Touch, sync_ticket

__all__ = ["install", "note_due", "written"]


class App(Protocol):
    """What the hooks use of the process's runtime holder (`maildesk.app.App`)."""

    due_written: Callable[[datetime], None] | None

    @property
    def config(self) -> Config: ...
    @property
    def db(self) -> Database: ...

log = logging.getLogger("maildesk.timers")

_TOUCHES = "maildesk.timers.touches"
_EARLIEST = "maildesk.timers.earliest"
# A change to these is somebody working on the ticket; updated_at and version are not.
_WORK = ("state", "queue", "priority", "owner", "locked", "cc_json", "tags_json",
         "pending_until", "first_response_at", "title")


def install(app: App) -> None:
    """Attach the hooks to the sessions of `app.db` (again after a reload swaps it)."""
    sessions = app.db.sessions
    if getattr(sessions, "_maildesk_timers", False):
        return
    event.listen(sessions, "before_flush", _collect)
    event.listen(sessions, "before_commit", lambda s: _sync(app, s))
    event.listen(sessions, "after_commit", lambda s: _wake(app, s))
    event.listen(sessions, "after_rollback", _forget)
    sessions._maildesk_timers = True  # type: ignore[attr-defined]


def _forget(session: Session) -> None:
    session.info.pop(_TOUCHES, None)
    session.info.pop(_EARLIEST, None)


def _touch(session: Session, ticket: Ticket) -> Touch:
    touches: dict[int, tuple[Ticket, Touch]] = session.info.setdefault(_TOUCHES, {})
    entry = touches.get(id(ticket))
    if entry is None:
        entry = touches[id(ticket)] = (ticket, Touch())
    return entry[1]


def _collect(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.new:
        if isinstance(obj, Ticket):
            touch = _touch(session, obj)
            touch.created = touch.changed = True
        elif isinstance(obj, Article) and obj.ticket is not None:
            touch = _touch(session, obj.ticket)
            touch.changed = True
            if obj.sender_type == "customer" and obj.kind == "mail" and not touch.created:
                touch.customer_wrote = True
        elif isinstance(obj, OutboxMail) and obj.kind == "answer" and obj.ticket_id:
            ticket = session.get(Ticket, obj.ticket_id)
            if ticket is not None:
                touch = _touch(session, ticket)
                touch.agent_answered = touch.changed = True
    for obj in session.dirty:
        if isinstance(obj, Ticket):
            state = inspect(obj)
            if any(state.attrs[name].history.has_changes() for name in _WORK):
                _touch(session, obj).changed = True


def written(session: Session, ticket: Ticket, *, created: bool = False,
            customer_wrote: bool = False) -> None:
    """A change written with Core statements (`store.rows`), which `_collect` cannot see
    among the session's new objects: a ticket inserted (`created`), an article added to
    it (`customer_wrote`: a customer's mail, which restarts the update clock unless it
    is the mail that made the ticket)."""
    touch = _touch(session, ticket)
    touch.changed = True
    if created:
        touch.created = True
    elif customer_wrote and not touch.created:
        touch.customer_wrote = True


def _sync(app: App, session: Session) -> None:
    # Ids for new tickets, and the changes not flushed yet seen by _collect: a transaction
    # whose only flush is the commit's own (Core INSERTs of outbox rows do not flush) would
    # otherwise reach here with nothing collected.
    session.flush()
    touches: dict[int, tuple[Ticket, Touch]] | None = session.info.pop(_TOUCHES, None)
    if not touches:
        return
    now = utcnow()
    # The config the transaction's work took (a mail captures its runtime), else the
    # current one: a reload between the change and its commit must not mix the two.
    taken = session.info.get(RUNTIME_KEY)
    config = taken.config if taken is not None else app.config
    earliest: datetime | None = session.info.get(_EARLIEST)
    existing = [t.id for t, touch in touches.values() if t.id is not None and not touch.created]
    rows = _rows_of(session, existing)
    for ticket, touch in touches.values():
        if ticket.id is None:
            continue
        due = sync_ticket(session, config, ticket, touch, now, rows.get(ticket.id))
        if due is not None and (earliest is None or due < earliest):
            earliest = due
    session.info.pop(_TOUCHES, None)
    if earliest is not None:
        session.info[_EARLIEST] = earliest


# `due.load_rows` as one cached statement: a follow-up's commit asks it once, and building
# and keying a new SELECT each time cost more than running it.
# One ticket (a mail's commit) is an `=`: an expanding IN rewrites the SQL on every run.
_ROWS = select(Timer).where(Timer.ticket_id.in_(bindparam("ids", expanding=True)))
_ROWS_ONE = select(Timer).where(Timer.ticket_id == bindparam("id"))


def _rows_of(session: Session, ticket_ids: list[int]) -> dict[int, dict[str, Timer]]:
    out: dict[int, dict[str, Timer]] = {i: {} for i in ticket_ids}
    if len(ticket_ids) == 1:
        for row in session.scalars(_ROWS_ONE, {"id": ticket_ids[0]}):
            out[row.ticket_id][row.kind] = row
        return out
    for start in range(0, len(ticket_ids), 500):
        for row in session.scalars(_ROWS, {"ids": ticket_ids[start:start + 500]}):
            out[row.ticket_id][row.kind] = row
    return out


def note_due(session: Session, due: datetime) -> None:
    """A due time written outside the ORM's view (the timers' bulk path): the scheduler
    is woken after the commit if it is earlier than its plan, as for a synced ticket."""
    earliest: datetime | None = session.info.get(_EARLIEST)
    if earliest is None or due < earliest:
        session.info[_EARLIEST] = due


def _wake(app: App, session: Session) -> None:
    earliest = session.info.pop(_EARLIEST, None)
    callback: Callable[[datetime], None] | None = app.due_written
    if earliest is not None and callback is not None:
        try:
            callback(earliest)
        except Exception:  # waking is an optimisation; the scheduler looks anyway
            log.exception("waking the scheduler failed")
