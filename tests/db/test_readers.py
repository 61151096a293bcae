"""Reads never stall intake (issue 11): on SQLite (WAL) a reader holds a DEFERRED,
query_only transaction on a connection of its own, so a long `tickets` listing in another
process, or in another thread, neither waits for the writer nor makes it wait."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from maildesk.store.db import Database
from tests.conftest import make_desk, simple_mail

HOLD = r"""
import sys, time
from sqlalchemy import text
from maildesk.store.db import Database
db = Database(sys.argv[1])
with db.reading() as session:
    n = session.execute(text("SELECT COUNT(*) FROM tickets")).scalar()
    print("reading", n, flush=True)
    time.sleep(float(sys.argv[2]))   # a long listing: the read transaction stays open
print("released", flush=True)
"""


def test_ingest_proceeds_while_another_process_holds_a_read_transaction(
        tmp_path: Path) -> None:
    desk = make_desk(tmp_path / "desk")
    assert desk.ingest(simple_mail()).code == 250
    reader = subprocess.Popen([sys.executable, "-c", HOLD, desk.config.database, "60"],
                              stdout=subprocess.PIPE, text=True, cwd=desk.root)
    try:
        assert reader.stdout is not None
        assert reader.stdout.readline().split() == ["reading", "1"]
        started = time.monotonic()
        outcomes = [desk.ingest(simple_mail(subject=f"during a read {n}")) for n in range(3)]
        took = time.monotonic() - started
        assert [o.result for o in outcomes] == ["stored"] * 3
        # still inside its read transaction: intake did not wait for it (it would have
        # waited for the whole 60 s, or the 30 s busy timeout, with the reader's write lock)
        assert reader.poll() is None, f"the reader ended first; ingest took {took:.1f}s"
    finally:
        reader.kill()
        reader.wait(10)
    assert len(desk.tickets()) == 4


def test_a_reader_thread_does_not_wait_for_an_open_write_transaction(tmp_path: Path) -> None:
    desk = make_desk(tmp_path / "desk")
    db = Database(desk.config.database)
    writing, release = threading.Event(), threading.Event()

    def writer() -> None:
        with db.transaction() as session:
            session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock
            writing.set()
            release.wait(60)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(30)
        done = threading.Event()

        def read() -> None:
            with db.reading() as session:
                session.execute(text("SELECT COUNT(*) FROM tickets")).scalar()
            done.set()

        threading.Thread(target=read, daemon=True).start()
        assert done.wait(20), "the read waited for the writer"
    finally:
        release.set()
        thread.join(30)
        db.dispose()


def test_a_read_transaction_cannot_write(tmp_path: Path) -> None:
    desk = make_desk(tmp_path / "desk")
    db = Database(desk.config.database)
    try:
        with pytest.raises(OperationalError, match="readonly"):
            with db.reading() as session:
                session.execute(text("DELETE FROM tickets"))
    finally:
        db.dispose()
