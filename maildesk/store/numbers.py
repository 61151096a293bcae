"""Ticket numbers (SPEC 3): OTRS style YYYYMMDD + system id + counter, or a plain counter.

The counter is a database row incremented under its row lock, so two processes (or two
daemons on one PostgreSQL) take distinct values. On SQLite the increment runs inside the
caller's transaction (one writer at a time anyway). On PostgreSQL and MariaDB it runs in a
short transaction of its own, on a small pool of its own: a lock held until the caller's
commit would make every new ticket of every daemon wait for the one before it (measured:
two daemons were slower than one). The price is a gap when the caller rolls back; a number
is still never handed out twice.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maildesk.store import lean
from maildesk.store.db import _make_engine, execute_core, rowcount
from maildesk.store.models import Counter, utcnow

__all__ = ["next_ticket_number"]

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


# Core statements on the table: the ORM's UPDATE (an entity, session synchronisation)
# cost as much again as the statement itself, once per new ticket.
_COUNTERS = cast(Table, Counter.__table__)
_BUMP = (update(_COUNTERS).where(_COUNTERS.c.name == bindparam("counter"))
         .values(value=_COUNTERS.c.value + 1))
_BUMP_RETURNING = _BUMP.returning(_COUNTERS.c.value)  # one round trip where UPDATE returns
_VALUE = select(_COUNTERS.c.value).where(_COUNTERS.c.name == bindparam("counter"))


def _run(conn: Session | Connection, statement: Any, name: str) -> Any:
    """A counter statement on the DBAPI cursor (`store.lean`), past the ORM session's
    and the Connection's per-statement work: once per new ticket."""
    if isinstance(conn, Session):
        return execute_core(conn, statement, {"counter": name})
    return lean.execute(conn, statement, {"counter": name})


def _increment(conn: Session | Connection, name: str) -> int:
    returning = _dialect(conn) in ("sqlite", "postgresql")  # MariaDB: no UPDATE RETURNING
    for _ in range(3):
        if returning:
            value = _run(conn, _BUMP_RETURNING, name).scalar()
            if value is not None:
                return int(value)
        elif rowcount(_run(conn, _BUMP, name)):
            return int(_run(conn, _VALUE, name).scalar_one())
        try:
            with conn.begin_nested():
                conn.execute(insert(cast(Table, Counter.__table__)).values(name=name, value=1))
            return 1
        except IntegrityError:
            continue  # another process created the row first: increment it
    raise RuntimeError(f"counter {name} could not be incremented")


def _dialect(conn: Session | Connection) -> str:
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    return bind.dialect.name


def _counter_engine(bind: Engine) -> Engine:
    url = bind.url.render_as_string(hide_password=False)
    with _engines_lock:
        if url not in _engines:
            # five: an ingest worker each (`daemon.ingest_workers`); with two, the others'
            # connections were made and closed for each number (issue 20: 34 PostgreSQL
            # sessions opened in a run of 600 mails, 17 with five)
            _engines[url] = _make_engine(url, echo=False, pool_size=5, max_overflow=8)
        return _engines[url]


def _next(session: Session, name: str) -> int:
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        return _increment(session, name)
    engine = bind.engine if isinstance(bind, Connection) else bind
    with _counter_engine(engine).begin() as conn:
        return _increment(conn, name)


def next_ticket_number(
    session: Session, *, number_format: str, system_id: int, now: datetime | None = None
) -> str:
    if number_format == "counter":
        return str(_next(session, "ticket"))
    day = (now or utcnow()).strftime("%Y%m%d")
    return f"{day}{system_id:02d}{_next(session, 'ticket:' + day):06d}"
