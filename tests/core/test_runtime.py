"""The runtime is built in one place and swapped whole: a reload is one assignment, the
database stays when its settings do, and work that captured the old runtime keeps it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from maildesk import bootstrap
from maildesk.app import open_app
from maildesk.runtime import Runtime
from tests.conftest import Desk, make_desk


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return make_desk(tmp_path / "desk")


def test_reload_swaps_the_whole_runtime_and_keeps_the_database(desk: Desk) -> None:
    app = open_app(desk.config)
    try:
        before = app.runtime
        secret = before.secret
        text = desk.config_path.read_text().replace("name: Example Support",
                                                    "name: Renamed Support", 1)
        desk.config_path.write_text(text)
        app.reload(desk.config)
        after = app.runtime
        assert after is not before
        assert before.config.instance.name == "Example Support"  # the old one is intact
        assert after.config.instance.name == "Renamed Support"
        assert app.config is after.config and app.store is after.store
        assert after.db is before.db  # same database settings: same pool
        assert after.secret == secret
        with pytest.raises(dataclasses.FrozenInstanceError):
            after.config = before.config  # type: ignore[misc]
    finally:
        app.close()


def test_a_new_database_url_makes_a_new_database(desk: Desk, tmp_path: Path) -> None:
    first = bootstrap.build(desk.config)
    try:
        other = dataclasses.replace(desk.config,
                                    database=f"sqlite:///{tmp_path / 'other.db'}")
        second = bootstrap.rebuild(first, other)
        assert isinstance(second, Runtime) and second.db is not first.db
        second.db.dispose()
    finally:
        first.db.dispose()


def test_the_secret_is_read_on_first_use_only(desk: Desk) -> None:
    rt = bootstrap.build(desk.config)
    try:
        desk.config.instance.secret_file.unlink()
        with pytest.raises(FileNotFoundError):
            rt.secret  # noqa: B018  (no secret: refused where it is needed, not at start)
    finally:
        rt.db.dispose()
