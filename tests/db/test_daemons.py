"""Two `maildesk serve` processes on one PostgreSQL, fed at once by several SMTP clients;
and the outage drill: a PostgreSQL stopped under load and started again loses nothing."""

from __future__ import annotations

import json
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from maildesk.store.db import Database
from maildesk.store.migrate import upgrade
from maildesk.store.models import Article, OutboxMail, Ticket
from tests.conftest import selected_backends, simple_mail
from tests.db.serving import PrivatePostgres, Served, Sink, send, serve_desks, wait_for


@pytest.fixture
def sink() -> Iterator[Sink]:
    relay = Sink()
    yield relay
    relay.stop()


def _counts(db: Database) -> tuple[int, int, Counter[str]]:
    with db.reading() as s:
        tickets = s.scalar(select(func.count()).select_from(Ticket)) or 0
        mids = Counter(s.scalars(select(Article.message_id).where(Article.kind == "mail")))
    return tickets, sum(mids.values()), mids


@pytest.mark.backends("postgresql")
def test_two_daemons_on_one_postgresql(database_url: str, tmp_path: Path, sink: Sink) -> None:
    nodes = serve_desks(tmp_path, database_url, 2, sink.port)
    daemons = [Served(desk, port) for desk, port in nodes]
    db = Database(database_url)
    try:
        ports = [port for _, port in nodes]
        seeds = []
        for i in range(2):  # two tickets the clients then write follow-ups to, at once
            raw = simple_mail(subject=f"seed {i}", sender=f"seed{i}@example.org")
            assert send(ports[i], raw, f"seed{i}@example.org") == 250
            seeds.append(raw)
        wait_for(lambda: _counts(db)[0] == 2, 30, "the seed tickets")
        with db.reading() as s:
            seed_numbers = {t.customer: t.number for t in s.scalars(select(Ticket))}
        acked: list[str] = []
        lock = threading.Lock()

        def client(c: int) -> None:
            for i in range(12):
                if i % 3 == 2:  # a follow-up to a seed ticket, racing the other clients
                    who = f"seed{i % 2}@example.org"
                    raw = simple_mail(subject=f"Re: [Ticket#{seed_numbers[who]}] c{c} {i}",
                                      sender=who, message_id=f"c{c}-{i}@example.org")
                else:
                    who = f"cust{c}-{i}@example.org"
                    raw = simple_mail(subject=f"client {c} mail {i}", sender=who,
                                      message_id=f"c{c}-{i}@example.org")
                if send(ports[(c + i) % 2], raw, who) == 250:
                    with lock:
                        acked.append(f"c{c}-{i}@example.org")

        clients = [threading.Thread(target=client, args=(c,)) for c in range(4)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(120)
        assert len(acked) == 48, [d.log()[-2000:] for d in daemons]
        wait_for(lambda: _counts(db)[1] == 50, 60, "every acknowledged mail stored")
        tickets, _, mids = _counts(db)
        assert tickets == 2 + 32  # 32 new, 16 follow-ups threaded to the seeds
        assert all(mids[m] == 1 for m in acked), "a mail stored twice or not at all"
        with db.reading() as s:
            numbers = list(s.scalars(select(Ticket.number)))
            assert len(numbers) == len(set(numbers))
            for number in seed_numbers.values():
                ticket = s.scalars(select(Ticket).where(Ticket.number == number)).one()
                assert len(ticket.articles) == 1 + 8

        def outbox_settled() -> bool:
            with db.reading() as s:
                return not s.scalar(select(func.count()).select_from(OutboxMail)
                                    .where(OutboxMail.state == "queued"))

        wait_for(outbox_settled, 60, "the outbox to drain")
        with db.reading() as s:
            rows = s.execute(select(OutboxMail.message_id, OutboxMail.rcpt_json,
                                    OutboxMail.state)).all()
        assert rows and {r.state for r in rows} == {"sent"}
        expected = Counter((r.message_id, json.loads(r.rcpt_json)[0].lower()) for r in rows)
        got = Counter(sink.received)
        assert got == expected, "an outbox mail sent twice, or never"
        assert all(d.alive() for d in daemons)
        for desk, _ in nodes:
            assert desk.app().failed.ids() == []
    finally:
        for d in daemons:
            d.stop()
        db.dispose()


@pytest.fixture(scope="module")
def private_pg(request: pytest.FixtureRequest) -> Iterator[PrivatePostgres]:
    if "postgresql" not in selected_backends(request.config)[0]:
        pytest.skip("postgresql not selected (--db / MAILDESK_TEST_DATABASES)")
    try:
        cluster = PrivatePostgres()
    except (RuntimeError, OSError, subprocess.SubprocessError, KeyError) as exc:
        pytest.skip(f"cannot make a private PostgreSQL cluster for the outage drill: {exc}")
    yield cluster
    cluster.destroy()


@pytest.fixture
def drill_database(private_pg: PrivatePostgres) -> Iterator[str]:
    admin = create_engine(private_pg.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS drill WITH (FORCE)"))
        conn.execute(text("CREATE DATABASE drill"))
    url = private_pg.url.rsplit("/", 1)[0] + "/drill"
    db = Database(url)
    upgrade(db)
    db.dispose()
    yield url
    admin.dispose()


def test_outage_drill(private_pg: PrivatePostgres, drill_database: str, tmp_path: Path,
                      sink: Sink) -> None:
    (desk, port), = serve_desks(tmp_path, drill_database, 1, sink.port)
    daemon = Served(desk, port)
    db = Database(drill_database)
    try:
        mails = [(f"drill{i}@example.org", simple_mail(subject=f"drill {i}",
                  sender=f"drill{i}@example.org", message_id=f"drill-{i}@example.org"))
                 for i in range(30)]
        codes: list[int] = []
        for i, (who, raw) in enumerate(mails):
            if i == 10:
                private_pg.stop()
                # the pipe transport too: spooled (0) or "try again later" (75), never lost
                result = desk.cli("deliver", "--sender", "pipe@example.org", "--recipient",
                                  "support@example.com", input=simple_mail(
                                      subject="piped", sender="pipe@example.org",
                                      message_id="piped@example.org"))
                assert result.returncode in (0, 75), result.stderr.decode()[-1000:]
                piped = result.returncode == 0
            if i == 20:
                private_pg.start()
            code = send(port, raw, who)
            while code // 100 == 4:  # the MTA retries a 451
                code = send(port, raw, who)
            codes.append(code)
        assert codes == [250] * 30
        assert daemon.alive()
        assert "spooled to inbound" in daemon.log()  # the outage was real
        app = desk.app()
        if piped:  # `deliver` spooled it into this desk's inbound spool: the daemon drains it
            wait_for(lambda: app.inbound.ids() == [], 30, "the inbound spool to drain")
        wait_for(lambda: _counts(db)[1] == 30 + piped, 30, "the spooled mails to be stored")
        _, _, mids = _counts(db)
        assert all(mids[f"drill-{i}@example.org"] == 1 for i in range(30))
        assert app.failed.ids() == []
        assert daemon.alive()
    finally:
        daemon.stop()
        db.dispose()
