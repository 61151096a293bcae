"""`store.lean` (issue 20): cached Core statements on the session connection's DBAPI cursor
give what `Connection.execute` gives, on SQLite, PostgreSQL and MariaDB: the same rows
(result processors applied), row counts and new keys, the same SQLAlchemy errors where
callers catch them, inside the session's transaction and savepoints, and every statement
still seen by `before_cursor_execute` listeners (the bench counts with one)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.exc import IntegrityError, ResourceClosedError, StatementError
from sqlalchemy.orm import Session

from maildesk.store import lean
from maildesk.store.db import execute_core, insert_ignore_statement, rowcount
from maildesk.store.models import Customer, History
from maildesk.store.numbers import next_ticket_number
from tests.conftest import Desk

_CUSTOMERS = Customer.__table__
_READ = select(_CUSTOMERS.c.id, _CUSTOMERS.c.address, _CUSTOMERS.c.registered,
               _CUSTOMERS.c.created_at, _CUSTOMERS.c.language).where(
    _CUSTOMERS.c.address == bindparam("address"))
_INSERT = insert(_CUSTOMERS)
_RENAME = (update(_CUSTOMERS).where(_CUSTOMERS.c.address == bindparam("who"))
           .values(name=bindparam("new_name")))
_AT = datetime(2026, 12, 1, 20, 15, 7)  # MariaDB's DATETIME keeps whole seconds


def _row(address: str, **more: object) -> dict[str, object]:
    return {"address": address, "name": "Carol", "company": None, "language": "de",
            "password_hash": None, "company_admin": False, "failed_logins": 0,
            "created_at": _AT, "updated_at": _AT, **more}


def _ticket_id(session: Session) -> int:
    """History rows need a ticket: the first mail's."""
    from maildesk.store.models import Ticket

    return int(session.execute(select(Ticket.id).limit(1)).scalar_one())


def test_lean_results_match_the_usual_path(desk: Desk) -> None:
    desk.ingest(b"From: carol@example.org\r\nTo: support@example.com\r\n"
                b"Subject: hello\r\nMessage-ID: <lean-1@example.org>\r\n\r\nhi\r\n")
    app = desk.app()
    try:
        with app.db.transaction() as session:
            conn = session.connection()
            made = lean.run(conn, _INSERT, _row("lean@example.org"))
            assert isinstance(made, lean.LeanResult)  # covered on every backend
            # (the driver's count: SQLAlchemy keeps an INSERT's only when asked to)
            usual = conn.execute(_INSERT.execution_options(preserve_rowcount=True),
                                 _row("usual@example.org", registered=True))
            assert made.rowcount == usual.rowcount == 1
            lean_id = made.inserted_primary_key[0]
            usual_id = usual.inserted_primary_key[0]
            assert isinstance(lean_id, int) and usual_id == lean_id + 1

            for address in ("lean@example.org", "usual@example.org", "nobody@example.org"):
                quick = lean.run(conn, _READ, {"address": address})
                assert isinstance(quick, lean.LeanResult)
                slow = conn.execute(_READ, {"address": address})
                quick_rows, slow_rows = quick.all(), slow.all()
                assert quick_rows == slow_rows
                for mine, theirs in zip(quick_rows, slow_rows, strict=True):
                    assert [type(v) for v in mine] == [type(v) for v in theirs]
                    assert mine.address == theirs.address and mine._mapping["id"] == theirs.id
            first = execute_core(session, _READ, {"address": "lean@example.org"}).first()
            assert first.registered is False and first.created_at == _AT
            assert first.language == "de"

            # a scalar default the INSERT leaves out (registered), as SQLAlchemy fills it
            assert session.execute(select(Customer.registered).where(
                Customer.id == lean_id)).scalar_one() is False

            # INSERT .. ON CONFLICT DO NOTHING / INSERT IGNORE: the count says which
            ignore = insert_ignore_statement(session, Customer)
            assert rowcount(execute_core(session, ignore, _row("lean@example.org"))) == 0
            again = execute_core(session, ignore, _row("new@example.org"))
            assert rowcount(again) == 1
            assert again.inserted_primary_key[0] == session.execute(
                select(Customer.id).where(Customer.address == "new@example.org")).scalar_one()

            renamed = execute_core(session, _RENAME, {"who": "lean@example.org",
                                                      "new_name": "Caroline"})
            assert rowcount(renamed) == 1
            with pytest.raises(ResourceClosedError):  # no rows, as CursorResult says
                renamed.first()
            assert session.execute(select(Customer.name).where(
                Customer.id == lean_id)).scalar_one() == "Caroline"

            # executemany: every row, in order
            ticket_id = _ticket_id(session)
            rows = [{"ticket_id": ticket_id, "event": f"lean {n}", "actor": "system",
                     "at": _AT, "details_json": "{}"} for n in range(3)]
            execute_core(session, insert(History.__table__), rows)
            assert list(session.execute(select(History.event, History.at).where(
                History.event.like("lean %")).order_by(History.id))) == [
                (f"lean {n}", _AT) for n in range(3)]
    finally:
        app.close()


def test_lean_errors_are_sqlalchemy_errors_and_a_savepoint_survives(desk: Desk) -> None:
    app = desk.app()
    try:
        with app.db.transaction() as session:
            execute_core(session, _INSERT, _row("twice@example.org"))
            savepoint = session.begin_nested()
            with pytest.raises(IntegrityError):  # unique address
                execute_core(session, _INSERT, _row("twice@example.org"))
            savepoint.rollback()
            with pytest.raises(StatementError):  # SQLite's DateTime refuses a string
                if app.db.dialect != "sqlite":
                    raise StatementError("only SQLite's processor checks", None, None, None)
                execute_core(session, _INSERT, _row("typed@example.org", created_at="now"))
            found = execute_core(session, _READ, {"address": "twice@example.org"}).all()
            assert len(found) == 1
        with app.db.transaction() as session:  # committed: the first row, once
            assert len(execute_core(session, _READ, {"address": "twice@example.org"}).all()) == 1
    finally:
        app.close()


def test_listeners_see_every_lean_statement(desk: Desk) -> None:
    app = desk.app()
    seen: list[tuple[str, bool]] = []

    def note(_conn: object, _cursor: object, sql: str, _params: object, _context: object,
             many: bool) -> None:
        seen.append((sql.split()[0].upper(), many))

    try:
        event.listen(app.db.engine, "before_cursor_execute", note)
        with app.db.transaction() as session:
            execute_core(session, _INSERT, _row("heard@example.org"))
            execute_core(session, _READ, {"address": "heard@example.org"}).all()
            number = next_ticket_number(session, number_format="counter", system_id=1)
        assert number
        statements = [s for s in seen if s[0] != "BEGIN"]  # SQLite's, at the first one
        assert statements[:2] == [("INSERT", False), ("SELECT", False)]
        # the ticket counter: in this transaction on SQLite (its first UPDATE finds no
        # row: a savepoint and an INSERT follow), on an engine of its own elsewhere
        assert (("UPDATE", False) in statements) == (app.db.dialect == "sqlite")
    finally:
        event.remove(app.db.engine, "before_cursor_execute", note)
        app.close()


def test_uncovered_statements_go_the_usual_way(desk: Desk) -> None:
    """Expanding IN and a missing required parameter: `run` declines, SQLAlchemy runs
    (or refuses) them as before."""
    app = desk.app()
    expanding = select(_CUSTOMERS.c.id).where(
        _CUSTOMERS.c.address.in_(bindparam("many", expanding=True)))
    try:
        with app.db.transaction() as session:
            conn = session.connection()
            assert lean.run(conn, expanding, {"many": ["a@example.org"]}) is None
            assert execute_core(session, expanding, {"many": ["a@example.org"]}).all() == []
            assert lean.run(conn, _READ, {}) is None
            with pytest.raises(StatementError):
                execute_core(session, _READ, {})
    finally:
        app.close()
