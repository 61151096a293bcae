"""One fetcher per mailbox across daemons sharing a database: the lease row."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from maildesk.mailboxes.state import LeaseLost, MailboxStore
from maildesk.store.db import Database
from maildesk.store.migrate import upgrade
from maildesk.store.models import MailboxState, utcnow
from tests.conftest import Desk, simple_mail
from tests.mailboxes.conftest import Account
from tests.postfix.postfix_helpers import wait_for


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade(database)  # SQLite's URL is a new file; the servers' are migrated already
    yield database
    database.dispose()


@pytest.mark.backends()
def test_lease_is_exclusive_fenced_and_expires(db: Database) -> None:
    first = MailboxStore(db, "support", "node-a.example:101:aa")
    second = MailboxStore(db, "support", "node-b.example:202:bb")
    assert first.acquire()
    assert not second.acquire()  # another machine's live lease
    first.reset(77, 0)
    first.advance(5, 5)
    with pytest.raises(LeaseLost):
        second.advance(9, 1)  # a daemon without the lease cannot move the position
    with db.transaction() as session:  # node-a died: its lease runs out
        session.execute(update(MailboxState).values(lease_until=utcnow() - timedelta(seconds=1)))
    assert second.acquire()
    with pytest.raises(LeaseLost):
        first.renew()
    assert second.position().last_uid == 5 and second.position().uidvalidity == 77
    second.release()
    assert first.acquire()


@pytest.mark.dovecot
@pytest.mark.backends("postgresql")
def test_another_daemon_takes_over_when_the_holder_dies(
        account: Account, mailbox_desk: Callable[..., Desk], database_url: str) -> None:
    """Two `maildesk fetch` daemons on one PostgreSQL: one fetches; SIGKILL it, and the other
    fetches the next mail within a minute."""
    desk = mailbox_desk((account, {"extra": "idle: true\npoll_every: 1h\n"}),
                        database=database_url)
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "maildesk", "--config", str(desk.config_path), "fetch"],
            stdout=subprocess.DEVNULL, stderr=(desk.root / f"fetch{len(procs)}.log").open("wb"),
            cwd=desk.root)
        procs.append(proc)
        return proc

    def holder() -> str:
        status = json.loads(desk.cli("fetch", "--status", "--json").stdout)
        return str(status[0]["lease_owner"])

    def logs() -> str:
        return "\n".join(p.read_text() for p in desk.root.glob("fetch*.log"))

    try:
        first = start()
        wait_for(lambda: f":{first.pid}:" in holder(), 30, "the first daemon's lease", logs)
        second = start()
        account.append(simple_mail("before the kill"))
        wait_for(lambda: len(desk.tickets()) == 1, 30, "the first mail", logs)
        assert f":{first.pid}:" in holder()
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        account.append(simple_mail("after the kill"))
        wait_for(lambda: len(desk.tickets()) == 2, 60, "the takeover", logs)
        assert f":{second.pid}:" in holder()
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
