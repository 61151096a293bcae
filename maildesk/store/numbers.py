"""Ticket numbers (SPEC 3): OTRS style YYYYMMDD + system id + counter, or a plain counter.

The counter is a database row incremented inside the caller's transaction, so the row
lock makes two processes (or two daemons on one PostgreSQL) take distinct values.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maildesk.store.models import Counter, utcnow

__all__ = ["next_ticket_number"]


def _next(session: Session, name: str) -> int:
    for _ in range(3):
        result = session.execute(
            update(Counter).where(Counter.name == name).values(value=Counter.value + 1)
        )
        if result.rowcount:
            value = session.execute(select(Counter.value).where(Counter.name == name))
            return int(value.scalar_one())
        try:
            with session.begin_nested():
                session.add(Counter(name=name, value=1))
            return 1
        except IntegrityError:
            continue  # another process created the row first: increment it
    raise RuntimeError(f"counter {name} could not be incremented")


def next_ticket_number(
    session: Session, *, number_format: str, system_id: int, now: datetime | None = None
) -> str:
    if number_format == "counter":
        return str(_next(session, "ticket"))
    day = (now or utcnow()).strftime("%Y%m%d")
    return f"{day}{system_id:02d}{_next(session, 'ticket:' + day):06d}"
