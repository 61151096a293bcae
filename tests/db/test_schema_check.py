"""`serve` and `deliver` refuse a database whose schema is missing or at another revision,
naming `maildesk migrate` (issue 11); database errors are sorted by cause, not by class."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from maildesk.intake.message import Envelope
from maildesk.store.db import Database
from maildesk.store.dberrors import is_transient_db_error
from maildesk.store.migrate import alembic_config
from maildesk.store.schema import head_revision, schema_problem
from tests.conftest import Desk, simple_mail


def _point_at(desk: Desk, url: str) -> None:
    text_ = desk.config_path.read_text()
    old = next(line for line in text_.splitlines() if line.startswith("database:"))
    desk.config_path.write_text(text_.replace(old, f"database: {url}"))


def test_the_cheap_head_is_alembics_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert head_revision() == script.get_current_head()


def test_deliver_and_serve_refuse_an_unmigrated_database(desk: Desk, empty_database: str) -> None:
    _point_at(desk, empty_database)
    result = desk.cli("deliver", "--sender", "carol@example.org",
                      "--recipient", "support@example.com", input=simple_mail())
    assert result.returncode == 75, result.stderr  # EX_TEMPFAIL: the MTA keeps the mail
    assert b"maildesk migrate" in result.stderr
    serve = subprocess.run([sys.executable, "-m", "maildesk", "--config",
                            str(desk.config_path), "serve"], capture_output=True,
                           timeout=60, cwd=desk.root)
    assert serve.returncode == 78, serve.stderr
    assert b"maildesk migrate" in serve.stderr
    assert not list((desk.root / "var" / "spool").glob("*/*.mail"))


def test_an_older_revision_is_refused_too(desk: Desk) -> None:
    db = Database(desk.config.database)
    try:
        cfg = alembic_config(db.url)
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "-1")
        problem = schema_problem(db)
    finally:
        db.dispose()
    assert problem is not None and "maildesk migrate" in problem
    result = desk.cli("tickets")
    assert result.returncode == 78 and b"maildesk migrate" in result.stderr
    assert desk.cli("migrate").returncode == 0
    assert desk.cli("tickets").returncode == 0


def _error(db: Database, sql: str) -> DBAPIError:
    with pytest.raises(DBAPIError) as caught:
        with db.transaction() as session:
            session.execute(text(sql))
    return caught.value


def test_a_missing_table_is_a_bug_not_an_outage(desk: Desk) -> None:
    db = Database(desk.config.database)
    try:
        assert not is_transient_db_error(_error(db, "SELECT * FROM no_such_table"))
        assert not is_transient_db_error(_error(db, "SELECT no_such_column FROM tickets"))
    finally:
        db.dispose()


@pytest.mark.parametrize("url", [
    "postgresql://nobody@127.0.0.1:1/none",
    "mysql://nobody@127.0.0.1:1/none",
])
def test_a_refused_connection_is_transient(url: str) -> None:
    db = Database(url)
    try:
        with pytest.raises(DBAPIError) as caught:
            with db.reading() as session:
                session.execute(text("SELECT 1"))
        assert is_transient_db_error(caught.value)
    finally:
        db.dispose()


def test_sqlite_locked_and_unopenable_are_transient(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    sqlite3.connect(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    db = Database(f"sqlite:///{path}")
    try:  # another process holds the write lock of a file not yet in WAL mode
        with pytest.raises(DBAPIError) as caught:
            with db.engine.connect() as conn:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        assert "locked" in str(caught.value) and is_transient_db_error(caught.value)
    finally:
        holder.close()
        db.dispose()
    (tmp_path / "folder.db").mkdir()
    away = Database(f"sqlite:///{tmp_path}/folder.db")
    try:
        with pytest.raises(DBAPIError) as caught:
            with away.reading() as session:
                session.execute(text("SELECT 1"))
        assert is_transient_db_error(caught.value)
    finally:
        away.dispose()


def test_ingest_on_a_missing_table_goes_to_failed_not_the_retry_spool(desk: Desk) -> None:
    # Renamed away and back, not dropped: on PostgreSQL and MariaDB the test database is
    # reused (emptied) by the tests that follow.
    app = desk.app()
    try:
        with app.db.transaction() as session:
            session.execute(text("ALTER TABLE history RENAME TO history_away"))
        try:
            outcome = app.ingest(simple_mail(), Envelope("carol@example.org",
                                                        ("support@example.com",)))
        finally:
            with app.db.transaction() as session:
                session.execute(text("ALTER TABLE history_away RENAME TO history"))
    finally:
        app.close()
    assert outcome.result == "quarantined", outcome
