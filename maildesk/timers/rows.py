"""Due rows as plain objects for the timers' bulk path (bulk.py): `sync_ticket` runs on
them as on the ORM's rows (a RowStore, due.py), and what it makes, changes and drops is
written with one statement each for a whole batch instead of the ORM's unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from maildesk.store.models import Timer

__all__ = ["CoreRows", "DueRow", "load"]

_TIMERS = cast(Table, Timer.__table__)


def load(session: Session, ids: list[int]) -> dict[int, dict[str, DueRow]]:
    """The due rows of these tickets, kind -> row per ticket, one SELECT per 500."""
    rows: dict[int, dict[str, DueRow]] = {i: {} for i in ids}
    t = _TIMERS.c
    for start in range(0, len(ids), 500):
        for found in session.execute(
                select(t.id, t.ticket_id, t.kind, t.queue, t.due_at, t.deadline, t.remaining,
                       t.stage).where(t.ticket_id.in_(ids[start:start + 500]))):
            rows[found.ticket_id][found.kind] = DueRow(**found._asdict())
    return rows


@dataclass
class DueRow:
    """A due row as the bulk path reads and writes it: what `sync_ticket` uses of a Timer."""

    ticket_id: int
    kind: str
    queue: str
    due_at: datetime | None = None
    deadline: datetime | None = None
    remaining: float | None = None
    stage: int = 0
    id: int | None = None

    def values(self) -> tuple[object, ...]:
        return (self.queue, self.due_at, self.deadline, self.remaining, self.stage)


class CoreRows:
    """The RowStore of the bulk path: rows made and dropped are collected, then written."""

    def __init__(self) -> None:
        self.made: list[DueRow] = []
        self.dropped: set[int | None] = set()

    def make(self, ticket_id: int, kind: str, queue: str) -> Timer:
        row = DueRow(ticket_id, kind, queue)
        self.made.append(row)
        return cast(Timer, row)

    def drop(self, row: Timer) -> None:
        if row.id is None:
            self.made.remove(cast(DueRow, row))
        else:
            self.dropped.add(row.id)

    def write(self, session: Session, changed: list[DueRow], stamp: datetime) -> None:
        t = _TIMERS.c
        dropped = sorted(i for i in self.dropped if i is not None)
        for start in range(0, len(dropped), 500):
            session.execute(delete(_TIMERS).where(t.id.in_(dropped[start:start + 500])))
        if changed:
            session.execute(
                update(_TIMERS).where(t.id == bindparam("row_id"))
                .values(queue=bindparam("queue"), due_at=bindparam("due_at"),
                        deadline=bindparam("deadline"), remaining=bindparam("remaining"),
                        stage=bindparam("stage")),
                [{"row_id": r.id, "queue": r.queue, "due_at": r.due_at, "deadline": r.deadline,
                  "remaining": r.remaining, "stage": r.stage} for r in changed])
        if self.made:
            session.execute(insert(_TIMERS), [
                {"ticket_id": r.ticket_id, "kind": r.kind, "queue": r.queue, "due_at": r.due_at,
                 "deadline": r.deadline, "remaining": r.remaining, "stage": r.stage,
                 "created_at": stamp} for r in self.made])
