"""Group commit (maildesk.batch) on every backend: mails waiting together share one
commit, each is acknowledged only once that commit holds it, and a mail that fails in the
batch fails alone. The worker is held by a first task so that the mails really queue up."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from sqlalchemy import event, func, select

from maildesk import batch, pipeline
from maildesk.app import App
from maildesk.batch import Batcher
from maildesk.intake.message import Envelope
from maildesk.outcome import Outcome
from maildesk.store.db import Database
from maildesk.store.models import Article, OutboxMail, Ticket
from tests.conftest import Desk, simple_mail

ENVELOPE = Envelope("carol@example.org", ("support@example.com",))


@pytest.fixture
def app(desk: Desk) -> Iterator[App]:
    app = desk.app()
    yield app
    app.close()


def queue_behind_a_gate(batcher: Batcher, mails: list[bytes]) -> list[Future[Outcome]]:
    """Hold the one worker until every mail is queued, so they form one batch."""
    gate = threading.Event()
    held = batcher.submit(gate.wait, 10)
    futures = [batcher.submit_mail(raw, ENVELOPE) for raw in mails]
    gate.set()
    assert held.result(timeout=10) is True
    return futures


def test_mails_waiting_together_share_one_commit_and_are_acked_after_it(
        desk: Desk, app: App) -> None:
    commits = []
    event.listen(app.db.engine, "commit", lambda conn: commits.append(1))
    observer = Database(app.config.database)  # another connection: sees only what committed
    seen_at_ack: dict[str, int] = {}

    def check_committed(future: Future[Outcome]) -> None:
        number = future.result().ticket
        assert number is not None
        with observer.reading() as session:
            seen_at_ack[number] = session.execute(
                select(func.count()).select_from(Article).join(Ticket)
                .where(Ticket.number == number)).scalar_one()

    batcher = Batcher(app, workers=1)
    try:
        mails = [simple_mail(subject=f"batch mail {n}") for n in range(8)]
        gate = threading.Event()
        batcher.submit(gate.wait, 10)
        futures = [batcher.submit_mail(raw, ENVELOPE) for raw in mails]
        for future in futures:
            future.add_done_callback(check_committed)
        commits.clear()
        gate.set()
        outcomes = [future.result(timeout=60) for future in futures]
    finally:
        batcher.shutdown()
        observer.dispose()

    assert [o.result for o in outcomes] == ["stored"] * 8
    assert len({o.ticket for o in outcomes}) == 8
    assert len(commits) == 1  # one transaction for the eight (the timers add none here)
    # Each client's 250 came after the commit holding its mail: another connection saw it.
    assert seen_at_ack == {o.ticket: 1 for o in outcomes}
    with app.db.reading() as session:
        assert session.execute(select(func.count()).select_from(Ticket)).scalar_one() == 8
        # the auto-responses went in with their tickets
        assert session.execute(select(func.count()).select_from(OutboxMail)).scalar_one() >= 8
    # the article files are in place, the raw bytes intact
    with app.db.reading() as session:
        keys = session.execute(select(Article.raw_key)).scalars().all()
        assert sorted(app.store.get(session, k) for k in keys if k) == sorted(mails)


def test_a_mail_failing_in_the_batch_fails_alone(
        desk: Desk, app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    real_apply = pipeline._apply

    def poisoned(ctx: pipeline.Context) -> Outcome:
        if ctx.mail.subject == "poison":
            real_apply(ctx)  # its rows are written, then the savepoint must undo them
            raise RuntimeError("a bug met by this one mail")
        return real_apply(ctx)

    monkeypatch.setattr(pipeline, "_apply", poisoned)
    batcher = Batcher(app, workers=1)
    try:
        mails = [simple_mail(subject=f"good {n}") for n in range(3)]
        mails.insert(1, simple_mail(subject="poison"))
        futures = queue_behind_a_gate(batcher, mails)
        outcomes = [future.result(timeout=60) for future in futures]
    finally:
        batcher.shutdown()

    bad = outcomes.pop(1)
    assert bad.result == "quarantined" and bad.code == 250  # kept for review, not lost
    assert len(app.failed) == 1
    assert [o.result for o in outcomes] == ["stored"] * 3
    with app.db.reading() as session:
        titles = session.execute(select(Ticket.title)).scalars().all()
    assert sorted(titles) == ["good 0", "good 1", "good 2"]  # nothing of the poison


def test_a_mail_alone_is_parsed_once_and_a_failing_one_runs_anew(
        desk: Desk, app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch of one runs in its own transaction on the parse the batch made (a light
    load brings every mail alone); a mail that failed in a batch is parsed anew."""
    parsed: list[str] = []
    real_prepare, real_apply = pipeline.prepare, pipeline._apply

    def counting(rt: Any, raw: bytes, envelope: Envelope) -> Any:
        prepared = real_prepare(rt, raw, envelope)
        parsed.append(prepared.mail.subject)
        return prepared

    def poisoned(ctx: pipeline.Context) -> Outcome:
        if ctx.mail.subject == "poison":
            raise RuntimeError("a bug met by this one mail")
        return real_apply(ctx)

    monkeypatch.setattr(pipeline, "prepare", counting)
    monkeypatch.setattr(pipeline, "_apply", poisoned)
    batcher = Batcher(app, workers=1)
    try:
        alone = batcher.submit_mail(simple_mail(subject="alone"), ENVELOPE).result(timeout=60)
        futures = queue_behind_a_gate(batcher, [simple_mail(subject="good"),
                                                simple_mail(subject="poison")])
        outcomes = [future.result(timeout=60) for future in futures]
    finally:
        batcher.shutdown()
    assert alone.result == "stored" and alone.code == 250
    assert [o.result for o in outcomes] == ["stored", "quarantined"]
    # "alone" once; the poison once in the batch and once more by itself
    assert parsed.count("alone") == 1 and parsed.count("poison") == 2
    with app.db.reading() as session:
        titles = session.execute(select(Ticket.title)).scalars().all()
    assert sorted(titles) == ["alone", "good"]


def test_a_duplicate_in_the_same_batch_is_stored_once(desk: Desk, app: App) -> None:
    raw = simple_mail(subject="sent twice")
    batcher = Batcher(app, workers=1)
    try:
        futures = queue_behind_a_gate(batcher, [raw, simple_mail(subject="other"), raw])
        outcomes = [future.result(timeout=60) for future in futures]
    finally:
        batcher.shutdown()
    assert outcomes[0].ticket == outcomes[2].ticket
    assert outcomes[2].result == "duplicate"
    with app.db.reading() as session:
        assert session.execute(select(func.count()).select_from(Article)).scalar_one() == 2


def test_refused_mails_are_answered_without_the_database(desk: Desk, app: App) -> None:
    batcher = Batcher(app, workers=1)
    try:
        looping = b"Received: from a by b\r\n" * 60 + simple_mail(subject="loop")
        futures = queue_behind_a_gate(batcher, [looping, simple_mail()])
        outcomes = [future.result(timeout=60) for future in futures]
    finally:
        batcher.shutdown()
    assert outcomes[0].code == 554
    assert outcomes[1].result == "stored"


def test_a_batch_reaches_the_event_loop_in_one_hop(desk: Desk, app: App) -> None:
    """submit_mail_async: the daemon's SMTP sessions wait on the loop; a batch's outcomes
    reach it with one call_soon_threadsafe, and a client that hung up while its mail
    queued gets nothing stored."""
    batcher = Batcher(app, workers=1)
    hops: list[object] = []

    async def main() -> list[Outcome]:
        loop = asyncio.get_running_loop()
        real = loop.call_soon_threadsafe

        def counted(callback: Any, *args: Any, **kwargs: Any) -> asyncio.Handle:
            hops.append(callback)
            return real(callback, *args, **kwargs)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
        entered, gate = threading.Event(), threading.Event()
        held = batcher.submit(lambda: (entered.set(), gate.wait(10))[1])
        assert entered.wait(10)  # the worker is held: the mails below form one batch
        waiters = [batcher.submit_mail_async(simple_mail(subject=f"async mail {n}"), ENVELOPE)
                   for n in range(6)]
        batcher.submit_mail_async(simple_mail(subject="its client hung up"), ENVELOPE).cancel()
        gate.set()
        assert await asyncio.wrap_future(held) is True
        return list(await asyncio.gather(*waiters))

    try:
        outcomes = asyncio.run(main())
    finally:
        batcher.shutdown()
    assert [o.result for o in outcomes] == ["stored"] * 6
    assert hops.count(batch._deliver) == 1
    with app.db.reading() as session:
        assert session.execute(select(func.count()).select_from(Ticket)).scalar_one() == 6


# -- the optimistic batch: no savepoints unless a mail fails ------------------------------

COUNTED = ("tickets", "articles", "history", "message_ids", "outbox", "timers",
           "autoresponse_counts", "customers")


def _statements(app: App) -> list[str]:
    seen: list[str] = []
    event.listen(app.db.engine, "before_cursor_execute",
                 lambda _c, _cur, sql, *_a: seen.append(sql.split(None, 1)[0].upper()))
    return seen


def _rows(app: App) -> dict[str, int]:
    from sqlalchemy import table

    with app.db.reading() as session:
        return {name: session.execute(select(func.count()).select_from(table(name)))
                .scalar_one() for name in COUNTED}


def _poison(monkeypatch: pytest.MonkeyPatch, subject: str = "poison") -> list[str]:
    """`_apply` writes everything for the mail called `subject` (rows, its article file,
    a ticket number, the timers' session hooks), then raises: a bug met after the work."""
    real_apply = pipeline._apply
    met: list[str] = []

    def poisoned(ctx: pipeline.Context) -> Outcome:
        outcome = real_apply(ctx)
        if ctx.mail.subject == subject:
            met.append(outcome.ticket or "")
            raise RuntimeError("a bug met by this one mail")
        return outcome

    monkeypatch.setattr(pipeline, "_apply", poisoned)
    return met


def test_a_batch_that_goes_well_takes_no_savepoint(desk: Desk, app: App) -> None:
    assert app.ingest(simple_mail(subject="first"), ENVELOPE).result == "stored"
    seen = _statements(app)  # from here on: today's ticket counter row is there
    batcher = Batcher(app, workers=1)
    try:
        futures = queue_behind_a_gate(batcher, [simple_mail(subject=f"m {n}") for n in range(5)])
        outcomes = [future.result(timeout=60) for future in futures]
    finally:
        batcher.shutdown()
    assert [o.result for o in outcomes] == ["stored"] * 5
    # none per mail (the old way took five); one only when the day turned since `first`
    # and today's ticket counter row was just made (numbers.py, in a savepoint on SQLite)
    assert seen.count("SAVEPOINT") <= 1
    assert _rows(app)["tickets"] == 6


def test_a_failing_mail_leaves_the_others_as_a_batch_without_it_would(
        desk_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The poisoned batch rolls back and runs again with savepoints: the good mails are
    stored exactly once (same rows as the same batch without the poison, their article
    files readable), the poison is quarantined, and the batch still makes one commit."""
    good = [simple_mail(subject=f"good {n}", sender=f"c{n}@example.org") for n in range(4)]
    clean_desk, poisoned_desk = desk_factory(), desk_factory()

    clean = clean_desk.app()
    try:
        batcher = Batcher(clean, workers=1)
        try:
            for future in queue_behind_a_gate(batcher, good):
                assert future.result(timeout=60).result == "stored"
        finally:
            batcher.shutdown()
        expected = _rows(clean)
    finally:
        clean.close()

    met = _poison(monkeypatch)
    app = poisoned_desk.app()
    try:
        commits: list[int] = []
        event.listen(app.db.engine, "commit", lambda conn: commits.append(1))
        seen = _statements(app)
        batcher = Batcher(app, workers=1)
        try:
            mails = good[:1] + [simple_mail(subject="poison")] + good[1:]
            futures = queue_behind_a_gate(batcher, mails)
            outcomes = [future.result(timeout=60) for future in futures]
        finally:
            batcher.shutdown()
        bad = outcomes.pop(1)
        assert bad.result == "quarantined" and bad.code == 250
        assert len(app.failed) == 1
        assert [o.result for o in outcomes] == ["stored"] * 4
        assert len({o.ticket for o in outcomes}) == 4
        assert len(met) == 3  # optimistic pass, its savepoint, then alone
        assert "SAVEPOINT" in seen  # the second pass found it
        assert len(commits) == 1  # the good four, together; the poison alone committed nothing
        assert _rows(app) == expected
        with app.db.reading() as session:
            titles = session.execute(select(Ticket.title)).scalars().all()
            keys = session.execute(select(Article.raw_key)).scalars().all()
            assert sorted(app.store.get(session, k) for k in keys) == sorted(good)
        assert sorted(titles) == [f"good {n}" for n in range(4)]
    finally:
        app.close()


def test_a_reply_in_the_same_batch_finds_the_ticket_made_just_before(
        desk: Desk, app: App) -> None:
    """Without a savepoint's flush between mails, the next mail's reads must still see the
    rows of the one before it (its Message-ID): each mail's work is flushed after it."""
    first = simple_mail(subject="printer", message_id="first@example.org")
    reply = simple_mail(subject="Re: printer", headers={"In-Reply-To": "<first@example.org>"},
                        body="It is still burning.\n")
    batcher = Batcher(app, workers=1)
    try:
        futures = queue_behind_a_gate(batcher, [first, simple_mail(subject="other"), reply])
        outcomes = [future.result(timeout=60) for future in futures]
    finally:
        batcher.shutdown()
    assert [o.result for o in outcomes] == ["stored"] * 3
    assert outcomes[2].ticket == outcomes[0].ticket
    with app.db.reading() as session:
        assert session.execute(select(func.count()).select_from(Ticket)).scalar_one() == 2
        assert session.execute(select(func.count()).select_from(Article)).scalar_one() >= 3


def test_a_batch_as_big_as_the_last_starts_without_waiting_out_the_linger(
        desk: Desk, app: App) -> None:
    """Under load a batch waits a few ms for late arrivals; once as many mails wait as
    the last batch held, it starts at once (a steady set of clients is all there)."""
    batcher = Batcher(app, workers=1, linger=30.0)
    try:
        first = queue_behind_a_gate(batcher, [simple_mail(subject=f"first {n}")
                                              for n in range(2)])
        assert [f.result(timeout=60).result for f in first] == ["stored"] * 2
        started = time.monotonic()
        second = [batcher.submit_mail(simple_mail(subject=f"second {n}"), ENVELOPE)
                  for n in range(2)]
        assert [f.result(timeout=60).result for f in second] == ["stored"] * 2
        assert time.monotonic() - started < 15  # not the 30 s linger
    finally:
        batcher.shutdown()


def test_concurrent_group_commits_never_deadlock(
        desk: Desk, app: App, backend: str, caplog: pytest.LogCaptureFixture) -> None:
    """Four ingest threads each commit batches of new tickets that auto-respond: every
    batch counts its tickets (ticket_counts) and the desk's hourly auto-responses. Taken
    mail by mail those row locks crossed between batches and PostgreSQL broke a deadlock
    about every second (issue 20, bench/databases.py); now no batch loses a race."""
    from maildesk.store import rollup

    workers, per_batch, mails = 4, 4, 48
    raws = [(simple_mail(subject=f"flood {n}", sender=f"c{n}@example.org"),
             Envelope(f"c{n}@example.org", ("support@example.com",))) for n in range(mails)]
    # The hour's and the day's first counts made (a first INSERT of a row races once a
    # period, and a lost race runs again): what follows is a desk in its steady state.
    assert app.ingest(simple_mail(subject="first", sender="first@example.org"),
                      Envelope("first@example.org", ("support@example.com",))).ticket
    caplog.set_level("INFO", logger="maildesk")
    batcher = Batcher(app, workers=workers, max_batch=per_batch)
    try:  # queued at once: each thread takes four, the four batches run side by side
        futures = [batcher.submit_mail(raw, envelope) for raw, envelope in raws]
        outcomes = [future.result(timeout=120) for future in futures]
    finally:
        batcher.shutdown()

    assert [o.result for o in outcomes] == ["stored"] * mails
    lost = [r.getMessage() for r in caplog.records
            if "lost a race" in r.getMessage() or "group commit of" in r.getMessage()
            or "deadlock" in r.getMessage().lower()]
    # MariaDB: InnoDB still deadlocks now and then on the gap locks of tickets' unique
    # number index, which its duplicate-key check takes even at READ COMMITTED (store/db.py)
    # (a batch holding the desk's count inserts a ticket into a gap another batch, waiting
    # for that count, holds in share); the batch runs again and nothing is lost (the
    # assertions around this one), but a race is lost there.
    if backend != "mariadb":
        assert lost == []
    with app.db.reading() as session:
        assert session.execute(select(func.count()).select_from(Ticket)).scalar_one() == mails + 1
        assert rollup.drift(session) == {}
        assert session.execute(select(func.count()).select_from(OutboxMail).where(
            OutboxMail.kind == "autoreply")).scalar_one() == mails + 1
