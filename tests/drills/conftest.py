"""Fixtures of the fault drills: a real `maildesk serve` (the daemon tests' helpers in
tests/smtp/smtp_helpers.py), configured for drills: a relay port that may be closed, short
retries, auto-responses and agent notifications on (so ingest writes outbox rows), and the
article store under a folder of its own (the disk-full drill mounts a small one there)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "smtp"))

from smtp_helpers import Daemon, free_port  # noqa: E402

CONFIG = """\
instance:
  name: Drill Support
  system_id: 10
  secret_file: ./var/secret
database: sqlite:///{db}
storage:
  path: ./store
listen:
  smtp: 127.0.0.1:{smtp_port}
  max_message_size: {max_size}
outbound:
  relay: 127.0.0.1:{relay_port}
  bounce_address: bounces@example.com
  retry_first: 1s
  retry_max: 2s
queues:
  - name: Support
    address: support@example.com
    group: support
    autoresponse: {{new: true, followup: false}}
groups:
  support: {{Support: [read, note, reply, close]}}
agents:
  - address: alice@example.com
    name: Alice Example
    groups: [support]
"""


def drill_config(folder: Path, *, relay_port: int | None = None,
                 max_size: str = "25MiB") -> Path:
    """The drill config in `folder` (database in ./var, article store and spools in
    ./store); not yet initialised."""
    (folder / "var").mkdir(parents=True, exist_ok=True)
    (folder / "store").mkdir(parents=True, exist_ok=True)
    path = folder / "maildesk.yaml"
    path.write_text(CONFIG.format(db=folder / "var" / "maildesk.db", smtp_port=free_port(),
                                  relay_port=relay_port or free_port(), max_size=max_size))
    return path


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """Daemons a drill starts; each is stopped and closed at the end, whatever happened."""
    started: list[Daemon] = []
    yield started
    for d in started:
        d.close()
