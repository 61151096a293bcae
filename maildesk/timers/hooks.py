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
from maildesk.store.db import Database, execute_core
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
    info = session.info
    touches: dict[int, tuple[Ticket, Touch]] | None = info.pop(_TOUCHES, None)
    if not touches:
        return
    now = utcnow()
    # The config the transaction's work took (a mail captures its runtime), else the
    # current one: a reload between the change and its commit must not mix the two.
    taken = info.get(RUNTIME_KEY)
    config = taken.config if taken is not None else app.config
    earliest: datetime | None = info.get(_EARLIEST)
    entries = [(ticket, touch) for ticket, touch in touches.values() if ticket.id is not None]
    existing = [ticket.id for ticket, touch in entries if not touch.created]
    rows = _rows_of(session, existing, probe=not _timed(config)) if existing else {}
    for ticket, touch in entries:
        due = sync_ticket(session, config, ticket, touch, now, rows.get(ticket.id))
        if due is not None and (earliest is None or due < earliest):
            earliest = due
    info.pop(_TOUCHES, None)
    if earliest is not None:
        info[_EARLIEST] = earliest


_timed_last: tuple[Config, bool] | None = None  # the last config asked about, its answer


def _timed(config: Config) -> bool:
    """Whether the config gives tickets due rows of their own accord (a lock timeout, a
    queue's SLA or helpdesk level); without, only pending tickets and what an earlier
    config armed have any. Remembered for the last config (a reload makes a new one)."""
    global _timed_last
    last = _timed_last
    if last is not None and last[0] is config:
        return last[1]
    timed = bool(config.instance.lock_timeout) or any(
        q.sla is not None or bool(q.escalate_to and q.escalate_after) for q in config.queues)
    _timed_last = (config, timed)
    return timed


# `due.load_rows` as cached statements: a commit asks once for the tickets its mails
# followed up, and building and keying a new SELECT each time cost more than running it.
# The IN lists have fixed lengths (1, 2, 4 .. 512; the last id repeated to fill one):
# an expanding IN rewrites the SQL on every run (~25 us, issue 20).
_CHUNK = 512
_IN_SIZES = tuple(1 << n for n in range(10))  # 1 .. 512
_ROWS: dict[int, Any] = {}
_PROBES: dict[int, Any] = {}


def _in_list(ids: list[int]) -> tuple[int, dict[str, int]]:
    size = next(n for n in _IN_SIZES if n >= len(ids))
    padded = ids + [ids[-1]] * (size - len(ids))
    return size, {f"i{n}": i for n, i in enumerate(padded)}


def _statement(cache: dict[int, Any], size: int, probe: bool) -> Any:
    stmt = cache.get(size)
    if stmt is None:
        ids: list[Any] = [bindparam(f"i{n}") for n in range(size)]
        if probe:
            table = Timer.__table__
            stmt = select(table.c.ticket_id).where(table.c.ticket_id.in_(ids)).distinct()
        else:
            stmt = select(Timer).where(Timer.ticket_id.in_(ids))
        stmt = cache.setdefault(size, stmt)
    return stmt


def _rows_of(session: Session, ticket_ids: list[int], *, probe: bool = False
             ) -> dict[int, dict[str, Timer]]:
    """The due rows of these tickets. `probe` (a config that arms none by itself, where
    most tickets have none): a Core SELECT of which tickets have any first (~25 us, past
    the ORM), and the ORM's (~75 us) only for those."""
    out: dict[int, dict[str, Timer]] = {i: {} for i in ticket_ids}
    for start in range(0, len(ticket_ids), _CHUNK):
        chunk = ticket_ids[start:start + _CHUNK]
        if probe:
            size, params = _in_list(chunk)
            chunk = list(execute_core(session, _statement(_PROBES, size, True), params).scalars())
            if not chunk:
                continue
        size, params = _in_list(chunk)
        for row in session.scalars(_statement(_ROWS, size, False), params):
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
