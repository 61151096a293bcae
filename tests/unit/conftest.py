"""The unit tier: pure functions and fakes, no database, no subprocess, no socket.

Every test under tests/unit/ carries the `unit` marker, so `pytest -m unit` runs this tier
alone (in seconds); the end-to-end tier is the rest of tests/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from maildesk.config import Config, load_config

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The test suite's usual config, read from a file; no database is opened."""
    from tests.conftest import BASE_CONFIG

    root = tmp_path_factory.mktemp("unit-config")
    path = root / "maildesk.yaml"
    path.write_text(BASE_CONFIG.format(database=f"sqlite:///{root}/unused.db",
                                       articles="filesystem", relay_port=2525))
    return load_config(path)
