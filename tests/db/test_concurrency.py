"""Several writers on one database: distinct ticket numbers, no lost follow-up, each outbox
row claimed by one sender. The races are real: separate processes or connections."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError

from maildesk.intake.message import Envelope
from maildesk.store.db import Database, is_conflict, retry_conflicts
from maildesk.store.models import Article, OutboxMail, Ticket, utcnow
from tests.conftest import REPO, Desk, simple_mail

WRITER = """
import sys
from maildesk.app import open_app
from maildesk.config import load_config
from maildesk.intake.message import Envelope
from tests.conftest import simple_mail

app = open_app(load_config(sys.argv[1]))
sys.stdin.readline()  # start together
for i in range(int(sys.argv[3])):
    outcome = app.ingest(simple_mail(subject=f"{sys.argv[2]}-{i}"),
                         Envelope("carol@example.org", ("support@example.com",)))
    print(outcome.result, outcome.ticket, flush=True)
app.close()
"""


@pytest.mark.backends("postgresql", "mariadb")
def test_processes_creating_tickets_at_once_never_share_a_number(desk: Desk) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(desk.config_path), f"w{w}",
                               "10"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              cwd=REPO, text=True) for w in range(4)]
    for p in procs:  # all four are up before any starts
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    lines = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        lines += out.split()
    results, numbers = lines[0::2], lines[1::2]
    assert results == ["stored"] * 40
    assert len(set(numbers)) == 40
    app = desk.app()
    with app.db.reading() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 40
        assert sorted(s.scalars(select(Ticket.number))) == sorted(numbers)
    app.close()


@pytest.mark.backends()
def test_follow_ups_to_one_ticket_at_once_all_land(desk: Desk) -> None:
    first = desk.ingest(simple_mail(subject="Printer on fire"))
    number = first.ticket
    apps = [desk.app() for _ in range(6)]
    start = threading.Barrier(len(apps))
    outcomes: list[object] = [None] * len(apps)

    def follow_up(i: int) -> None:
        raw = simple_mail(subject=f"Re: [Ticket#{number}] still burning {i}")
        start.wait()
        outcomes[i] = apps[i].ingest(raw, Envelope("carol@example.org",
                                                   ("support@example.com",)))

    threads = [threading.Thread(target=follow_up, args=(i,)) for i in range(len(apps))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [(o.result, o.ticket) for o in outcomes] == [("stored", number)] * 6  # type: ignore[attr-defined]
    with apps[0].db.reading() as s:
        ticket = s.scalars(select(Ticket).where(Ticket.number == number)).one()
        subjects = s.scalars(select(Article.subject).where(Article.ticket_id == ticket.id))
        assert sorted(subjects) == ["Printer on fire"] + sorted(
            f"Re: [Ticket#{number}] still burning {i}" for i in range(6))
        assert s.scalar(select(func.count()).select_from(Ticket)) == 1
    assert apps[0].inbound.ids() == [] and apps[0].failed.ids() == []
    for app in apps:
        app.close()


@pytest.mark.backends("postgresql", "mariadb")
def test_outbox_rows_are_claimed_by_exactly_one_sender(database_url: str) -> None:
    outbox = pytest.importorskip("maildesk.outbound.outbox")
    db = Database(database_url)
    with db.transaction() as s:
        for i in range(60):
            s.add(OutboxMail(kind="notification", mail_from="bounces@example.com",
                             rcpt_json=json.dumps([f"a{i}@example.org"]), to_addr="x",
                             subject=f"s{i}", message_id=f"m{i}@example.com", raw=b"x",
                             state="queued", attempts=0, next_attempt_at=utcnow()))
    claims: dict[str, list[int]] = {}

    def sender(worker: str) -> None:
        mine = Database(database_url)
        got: list[int] = []
        while batch := outbox.claim_due(mine, worker, limit=7):
            got += [c.id for c in batch]
        claims[worker] = got
        mine.dispose()

    threads = [threading.Thread(target=sender, args=(f"host{w}:1",)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    every = [i for got in claims.values() for i in got]
    assert len(every) == 60 == len(set(every))
    # A sender that died holding a lease: once it runs out, another one takes the row over.
    with db.transaction() as s:
        row = s.get(OutboxMail, every[0])
        assert row is not None
        row.claimed_until = utcnow() - timedelta(seconds=1)
    assert [c.id for c in outbox.claim_due(db, "host9:1")] == [every[0]]
    assert outbox.claim_due(db, "host8:1") == []
    db.dispose()


def test_retry_runs_again_only_on_conflicts() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise StaleDataError("version changed")
        return "done"

    assert retry_conflicts(flaky, pause=0) == "done" and len(calls) == 3

    class Deadlock(Exception):
        args = (1213, "Deadlock found")

    class PgSerialization(Exception):
        sqlstate = "40001"

    assert is_conflict(OperationalError("x", {}, Deadlock()))
    assert is_conflict(OperationalError("x", {}, PgSerialization()))
    assert not is_conflict(OperationalError("x", {}, ConnectionRefusedError()))
    away = OperationalError("x", {}, ConnectionRefusedError())

    def down() -> None:
        calls.append(1)
        raise away

    calls.clear()
    with pytest.raises(OperationalError):
        retry_conflicts(down, pause=0)
    assert len(calls) == 1  # "database away" is for the spool, not for a retry loop
