"""A desk with the shipped example knowledge base copied next to its config."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from maildesk.kb.library import EXAMPLE
from tests.conftest import Desk, make_desk

KB_CONFIG = """
kb:
  path: ./knowledge
"""


def kb_desk(root: Path, extra: str = "", **kwargs: object) -> Desk:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(EXAMPLE, root / "knowledge")
    return make_desk(root, extra=KB_CONFIG + extra, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def kdesk(tmp_path: Path) -> Desk:
    return kb_desk(tmp_path / "desk")
