"""The unit tier: pure functions and fakes, no database, no subprocess, no socket.

Every test under tests/unit/ carries the `unit` marker, so `pytest -m unit` runs this tier
alone (in seconds); the end-to-end tier is the rest of tests/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.unit)
