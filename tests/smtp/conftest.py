"""Fixtures of the daemon tests; the helpers themselves live in smtp_helpers.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from smtp_helpers import Daemon


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[type[Daemon]]:
    started: list[Daemon] = []

    class Tracked(Daemon):
        def __init__(self, config: Path) -> None:
            super().__init__(config)
            started.append(self)

    yield Tracked
    for d in started:
        d.close()
