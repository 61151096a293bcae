"""The pending kinds of a claimed batch (reminder, auto-close) in bulk, statement per batch
rather than per ticket: issue 14's target is 100,000 pending tickets worked off within a
minute on SQLite, and row by row through the ORM (a flush, a version-checked UPDATE, a
built mail per ticket) managed about 1,000 a second on a quiet machine.

Per batch, whatever its size: one SELECT of the tickets; per kind one UPDATE of their
state, `pending_until`, `updated_at` and `version` whose WHERE re-checks the cause (still
in that pending state, at the version read); the history rows in one multi-row INSERT;
the reminders' notifications as deferred Specs (rendered by the sender, issue 20) in one
multi-row INSERT whose ids come back in order, and their Message-IDs indexed in another;
one DELETE of the claimed rows and of the due rows the new state ends; the
`ticket_counts` rollup adjusted by its deltas (store/rollup.py `add`).

What a ticket ends with is what `actions.fire` gives it: the same history rows with the
same details in the same order, the same notification (`outbound.timed.notice_spec`), and
its due rows as `sync_ticket` leaves them (it runs on plain rows here; what it changes is
written per batch). A ticket another
writer changed between the SELECT and the UPDATE (PostgreSQL, MariaDB: SQLite has one
writer) no longer matches: the UPDATE counts fewer rows, StaleDataError rolls the batch
back and `Database.run` runs it again, as the ORM's version check does for one ticket.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from sqlalchemy import Table, delete, insert, select, tuple_, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from maildesk.config import Config
from maildesk.store import rollup
from maildesk.store.db import rowcount
from maildesk.store.models import History, Ticket, Timer, utcnow
from maildesk.timers.actions import SYSTEM, iso
from maildesk.timers.due import Touch, sync_ticket
from maildesk.timers.hooks import note_due
from maildesk.timers.reminders import Reminders, entry
from maildesk.timers.rows import CoreRows, load

if TYPE_CHECKING:
    from maildesk.runtime import Runtime  # what a batch captured: one config

__all__ = ["PENDING", "Claimed", "fire_pending"]

_TICKETS = cast(Table, Ticket.__table__)
_HISTORY = cast(Table, History.__table__)
_TIMERS = cast(Table, Timer.__table__)


@dataclass(frozen=True)
class Change:
    """What a pending kind does to the ticket when it comes."""

    old: str
    new: str
    reason: str


PENDING = {"reminder": Change("pending reminder", "open", "pending reminder reached"),
           "auto-close": Change("pending auto-close", "closed successful", "pending auto-close")}


class Claimed(NamedTuple):
    """A claimed due row, as `run._claim` reads it."""

    id: int
    ticket_id: int
    kind: str


@dataclass(frozen=True)
class DueTicket:
    """A ticket as the batch read it: the attributes `ticket_context` and the notice read
    of a `Ticket` (the batch builds no ORM objects for its tickets)."""

    id: int
    number: str
    title: str
    queue: str
    state: str
    priority: int
    owner: str | None
    locked: bool
    customer: str
    tags_json: str
    pending_until: datetime | None
    version: int
    first_response_at: datetime | None
    created_at: datetime

    @property
    def tags(self) -> list[str]:
        return list(json.loads(self.tags_json or "[]"))

    @property
    def is_closed(self) -> bool:
        return self.state.startswith("closed") or self.state == "merged"

    def changed(self, state: str) -> DueTicket:
        """The ticket in `state`, no longer pending (`dataclasses.replace`, without its
        cost: it runs for every due time of a batch)."""
        return DueTicket(self.id, self.number, self.title, self.queue, state, self.priority,
                         self.owner, self.locked, self.customer, self.tags_json, None,
                         self.version, self.first_response_at, self.created_at)


class Fired(NamedTuple):
    """A ticket whose due time acts: as read, and as the batch leaves it."""

    kind: str
    ticket: DueTicket
    after: DueTicket


def fire_pending(session: Session, rt: Runtime, rows: Sequence[Claimed],
                 now: datetime) -> Counter[str]:
    """Act on claimed rows of the PENDING kinds; counts by outcome, as `actions.fire`."""
    done: Counter[str] = Counter()
    tickets = _read(session, sorted({r.ticket_id for r in rows}))
    fired: list[Fired] = []  # in claim order
    taken: set[int] = set()
    for row in rows:
        ticket = tickets.get(row.ticket_id)
        if ticket is None:
            done["gone"] += 1
            continue
        change = PENDING[row.kind]
        if (ticket.id in taken or ticket.state != change.old or ticket.pending_until is None
                or ticket.pending_until > now):
            done["stale"] += 1  # a customer wrote, an agent changed it: the cause is gone
            continue
        taken.add(ticket.id)
        fired.append(Fired(row.kind, ticket, ticket.changed(change.new)))
        done[row.kind] += 1
    stamp = utcnow()
    for kind, change in PENDING.items():
        _update(session, change, [f.ticket for f in fired if f.kind == kind], stamp)
    _count(session, fired)
    _write_history(session, rt, fired, stamp)
    session.execute(delete(_TIMERS).where(_TIMERS.c.id.in_([r.id for r in rows])))
    _sync(session, rt.config, fired, stamp)
    return done


def _read(session: Session, ids: list[int]) -> dict[int, DueTicket]:
    c = _TICKETS.c
    out: dict[int, DueTicket] = {}
    for start in range(0, len(ids), 500):
        for row in session.execute(
                select(c.id, c.number, c.title, c.queue, c.state, c.priority, c.owner,
                       c.locked, c.customer, c.tags_json, c.pending_until, c.version,
                       c.first_response_at, c.created_at)
                .where(c.id.in_(ids[start:start + 500]))):
            out[row.id] = DueTicket(*cast(tuple[Any, ...], row))
    return out


def _update(session: Session, change: Change, tickets: list[DueTicket], stamp: datetime
            ) -> None:
    """One UPDATE for the tickets of one kind; every one must still be as read."""
    if not tickets:
        return
    c = _TICKETS.c
    values: dict[str, Any] = {"state": change.new, "pending_until": None,
                              "updated_at": stamp, "version": c.version + 1}
    if change.new.startswith("closed"):
        values["closed_at"] = stamp
    ids = [t.id for t in tickets]
    result = session.execute(
        update(_TICKETS)
        .where(c.id.in_(ids), c.state == change.old,
               tuple_(c.id, c.version).in_([(t.id, t.version) for t in tickets]))
        .values(values))
    if rowcount(result) != len(ids):
        raise StaleDataError(f"{len(ids) - rowcount(result)} of {len(ids)} tickets changed "
                             f"while their {change.old!r} fell due")


def _count(session: Session, fired: list[Fired]) -> None:
    deltas: Counter[tuple[str, str, int]] = Counter()
    for f in fired:
        slot = f.ticket.id % rollup.SLOTS
        deltas[(f.ticket.queue, f.ticket.state, slot)] -= 1
        deltas[(f.after.queue, f.after.state, slot)] += 1
    rollup.add(session, deltas)


def _write_history(session: Session, rt: Runtime, fired: list[Fired], stamp: datetime
                   ) -> None:
    """The history of every fired ticket in the order `actions.fire` writes it: the state
    change, the reminder, then one line per notification queued (or failed)."""
    mails = Reminders(session, rt, stamp)
    lines: list[dict[str, object]] = []
    notices: list[tuple[int, int]] = []  # (index in lines, index in mails)
    for kind, ticket, after in fired:
        change = PENDING[kind]
        until = iso(ticket.pending_until)
        if kind == "reminder":
            lines.append(entry(ticket.id, "state", SYSTEM, stamp, old=change.old,
                               new=change.new, reason=change.reason))
            lines.append(entry(ticket.id, "reminder", SYSTEM, stamp, until=until))
            for agent in mails.recipients(cast(Ticket, after)):
                notices.append((len(lines), mails.add(cast(Ticket, after), agent,
                                                      {"until": until})))
                lines.append({})  # filled once the outbox rows have their ids
        else:
            lines.append(entry(ticket.id, "state", SYSTEM, stamp, old=change.old,
                               new=change.new, reason=change.reason, until=until))
    ids = mails.insert()
    for line, mail in notices:
        lines[line] = mails.history(mail, ids[mail])
    if lines:
        session.execute(insert(_HISTORY), lines)


def _sync(session: Session, config: Config, fired: list[Fired], stamp: datetime) -> None:
    """The fired tickets' due rows brought in line by `sync_ticket` itself, as a commit of
    the row-by-row path does, on plain rows (rows.py); what it makes, changes and drops is
    written with one statement each for the batch."""
    if not fired:
        return
    rows = load(session, [f.ticket.id for f in fired])
    before = {row.id: row.values() for kept in rows.values() for row in kept.values()}
    store = CoreRows()
    for f in fired:
        kept = cast(dict[str, Timer], dict(rows[f.ticket.id]))
        due = sync_ticket(session, config, cast(Ticket, f.after), Touch(changed=True), stamp,
                          kept, store)
        if due is not None:
            note_due(session, due)
    store.write(session, [row for kept in rows.values() for row in kept.values()
                          if row.id not in store.dropped and row.values() != before[row.id]],
                stamp)
