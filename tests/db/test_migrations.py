"""Alembic on every backend: from an empty database, and one revision at a time from the
previous one, the schema ends up exactly as the models describe it; and back down."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from maildesk.store.db import Database
from maildesk.store.migrate import alembic_config, upgrade
from maildesk.store.models import Base
from maildesk.store.search import SEARCH_OBJECTS

pytestmark = pytest.mark.backends()


def _alembic(db: Database, action: str, revision: str) -> None:
    cfg = alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


def _drift(db: Database) -> list[object]:
    """What autogenerate would change: nothing, when migrations and models agree."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True,
            # Full-text indexes differ per backend and are not in the models.
            "include_name": lambda name, kind, parent: not SEARCH_OBJECTS.match(name or "")})
        diffs = compare_metadata(context, Base.metadata)
    # Alembic compares a column's generic type, not its MariaDB variant (LONGBLOB): not drift.
    return [d for d in diffs if not (
        isinstance(d, list) and d[0][0] == "modify_type"
        and type(d[0][5]).__name__ == "LONGBLOB")]


def _revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_upgrade_from_empty_matches_the_models(empty_database: str) -> None:
    db = Database(empty_database)
    try:
        assert not db.has_schema()
        upgrade(db)
        script = ScriptDirectory.from_config(alembic_config(db.url))
        assert _revision(db) == script.get_current_head()
        assert _drift(db) == []
        upgrade(db)  # a second run is a no-op, as `maildesk migrate` on every deploy
        assert _revision(db) == script.get_current_head()
    finally:
        db.dispose()


def test_each_revision_from_the_previous_one_and_back(empty_database: str) -> None:
    db = Database(empty_database)
    try:
        script = ScriptDirectory.from_config(alembic_config(db.url))
        revisions = list(reversed(list(script.walk_revisions())))  # oldest first
        for rev in revisions:
            _alembic(db, "upgrade", rev.down_revision or "base")
            if rev.down_revision:  # data written under the previous revision survives
                with db.engine.begin() as conn:
                    conn.execute(text("DELETE FROM counters WHERE name = 'drill'"))
                    conn.execute(text("INSERT INTO counters (name, value) VALUES ('drill', 7)"))
            _alembic(db, "upgrade", rev.revision)
            assert _revision(db) == rev.revision
            if rev.down_revision:
                with db.engine.connect() as conn:
                    assert conn.execute(text(
                        "SELECT value FROM counters WHERE name = 'drill'")).scalar() == 7
        assert _drift(db) == []
        _alembic(db, "downgrade", "base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade(db)
        assert _drift(db) == []
    finally:
        db.dispose()
