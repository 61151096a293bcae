"""The sender against a real relay on loopback: refusals, outages, permanent failures,
give-up, concurrent senders, crash-resend, and header injection from mail content."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from maildesk.outbound.outbox import backoff, claim_due
from maildesk.outbound.render import InvalidAddress, check_address
from maildesk.outbound.sender import run_sender, send_due
from maildesk.store.models import OutboxAttempt, OutboxMail, Ticket
from tests.conftest import Desk, simple_mail
from tests.outbound.conftest import Sink, free_port, send, wait_for


def _rows(desk: Desk) -> list[OutboxMail]:
    app = desk.app()
    try:
        with app.db.reading() as s:
            rows = list(s.execute(select(OutboxMail).order_by(OutboxMail.id)).scalars())
            s.expunge_all()  # plain snapshots for the assertions
            return rows
    finally:
        app.close()


def _attempts(desk: Desk, outbox_id: int) -> list[OutboxAttempt]:
    app = desk.app()
    try:
        with app.db.reading() as s:
            rows = list(s.execute(select(OutboxAttempt).where(
                OutboxAttempt.outbox_id == outbox_id).order_by(OutboxAttempt.id)).scalars())
            s.expunge_all()
            return rows
    finally:
        app.close()


def _due_now(desk: Desk) -> None:
    app = desk.app()
    with app.db.transaction() as s:
        s.execute(update(OutboxMail).values(next_attempt_at=OutboxMail.created_at))
    app.close()


def test_refused_then_recovers_delivers_exactly_once(odesk: Desk, sink: Sink) -> None:
    sink.handler.tempfail_data = 4  # both rows refused twice
    odesk.ingest(simple_mail())
    assert send(odesk) == 0
    rows = _rows(odesk)
    assert all(r.state == "queued" and r.attempts == 1 for r in rows)
    assert rows[0].last_error.startswith("451")
    assert rows[0].next_attempt_at > rows[0].created_at  # backed off
    _due_now(odesk)
    assert send(odesk) == 0
    _due_now(odesk)
    assert send(odesk) == 2
    _due_now(odesk)
    assert send(odesk) == 0  # nothing left: sent rows are never sent again
    assert len(sink.to("carol@example.org")) == 1
    assert len(sink.to("alice@example.com")) == 1
    for row in _rows(odesk):
        assert row.state == "sent" and row.attempts == 3
        assert [a.ok for a in _attempts(odesk, row.id)] == [False, False, True]


def test_relay_down_at_start_loses_nothing(odesk_factory) -> None:  # noqa: ANN001
    port = free_port()  # nothing listens here yet
    desk = odesk_factory(port, outbound="  retry_first: 0.05s\n")
    number = desk.ingest(simple_mail()).ticket
    assert number  # intake does not wait for the relay
    assert send(desk) == 0
    rows = _rows(desk)
    assert len(rows) == 2 and all(r.state == "queued" and r.attempts == 1 for r in rows)
    assert "relay 127.0.0.1" in rows[0].last_error
    relay = Sink(port).start()
    try:
        _due_now(desk)
        assert send(desk) == 2
        assert len(relay.received) == 2
    finally:
        relay.stop()


def test_backoff_doubles_up_to_the_cap(odesk: Desk) -> None:
    config = odesk.config
    first = config.outbound.retry_first
    assert [backoff(config, n) for n in (1, 2, 3)] == [first, 2 * first, 4 * first]
    assert backoff(config, 60) == config.outbound.retry_max


def test_permanent_refusal_fails_at_once_without_a_storm(odesk: Desk, sink: Sink) -> None:
    sink.handler.refuse = {"carol@example.org"}
    number = odesk.ingest(simple_mail()).ticket
    assert send(odesk) == 1  # alice's notification
    _due_now(odesk)
    assert send(odesk) == 0
    [auto] = [r for r in _rows(odesk) if r.kind == "autoreply"]
    assert auto.state == "failed" and auto.attempts == 1 and "550" in auto.last_error
    assert len(_rows(odesk)) == 2  # no mail about a failed auto-response
    failed = [h for h in odesk.show(number)["history"] if h["event"] == "delivery failed"]
    assert failed[0]["details"]["kind"] == "autoreply"


def test_failed_answer_tells_the_owner_once(odesk: Desk, sink: Sink) -> None:
    from maildesk.events import AnswerQueued
    from maildesk.outbound.dispatch import dispatch

    number = odesk.ingest(simple_mail()).ticket
    send(odesk)
    sink.handler.refuse = {"carol@example.org", "alice@example.com"}
    app = odesk.app()
    with app.db.transaction() as s:
        ticket = s.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        ticket.owner = "alice@example.com"
        dispatch(s, app.config, app.secret,
                 [AnswerQueued(ticket, "Try turning it off.", "alice@example.com")])
    app.close()
    send(odesk)
    _due_now(odesk)
    send(odesk)
    rows = _rows(odesk)
    answer = next(r for r in rows if r.kind == "answer")
    notes = [r for r in rows if r.kind == "notification" and r.id > answer.id]
    assert answer.state == "failed"
    assert len(notes) == 1 and notes[0].to_addr == "alice@example.com"
    assert notes[0].state == "failed"  # alice refuses too: and that makes no further note
    assert len(rows) == 4


def test_give_up_after_the_configured_time(odesk_factory) -> None:  # noqa: ANN001
    desk = odesk_factory(free_port(), outbound="  give_up_after: 0s\n")
    number = desk.ingest(simple_mail()).ticket
    send(desk)
    assert {r.state for r in _rows(desk)} == {"failed"}
    events = [h["details"] for h in desk.show(number)["history"]
              if h["event"] == "delivery failed"]
    assert {e["reason"] for e in events} == {"gave up after retries"}


def test_two_senders_never_send_a_row_twice(odesk: Desk, sink: Sink) -> None:
    for i in range(10):
        odesk.ingest(simple_mail(subject=f"n{i}", sender=f"c{i}@example.org"),
                     sender=f"c{i}@example.org")

    async def both() -> None:
        app1, app2 = odesk.app(), odesk.app()
        try:
            await asyncio.gather(send_due(app1, worker="one", limit=7),
                                 send_due(app2, worker="two", limit=7),
                                 send_due(app1, worker="three", limit=7))
        finally:
            app1.close()
            app2.close()

    asyncio.run(both())
    send(odesk)
    ids = [r.message["Message-ID"] + r.rcpt_tos[0] for r in sink.received]
    assert len(ids) == 20 and len(set(ids)) == 20


def test_a_crash_after_claiming_resends_with_the_same_message_id(odesk: Desk,
                                                                 sink: Sink) -> None:
    odesk.ingest(simple_mail())
    app = odesk.app()
    claimed = claim_due(app.db, "dead-daemon", lease=timedelta(seconds=0))
    assert len(claimed) == 2
    # the dead daemon's lease has run out; another sender picks the rows up
    assert send(odesk) == 2
    app.close()
    got = {r.message["Message-ID"].strip() for r in sink.received}
    assert got == {f"<{r.message_id}>" for r in _rows(odesk)}


def test_a_live_lease_keeps_other_senders_off(odesk: Desk, sink: Sink) -> None:
    odesk.ingest(simple_mail())
    app = odesk.app()
    assert len(claim_due(app.db, "busy-daemon")) == 2
    assert send(odesk) == 0
    app.close()
    assert sink.received == []


def test_run_sender_delivers_and_stops(odesk: Desk, sink: Sink) -> None:
    app = odesk.app()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete,
                              args=(run_sender(app, stop, poll=0.05),), daemon=True)
    thread.start()
    try:
        odesk.ingest(simple_mail())
        wait_for(lambda: len(sink.received) == 2)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        app.close()
    assert not thread.is_alive()
    loop.close()


def test_a_wake_ends_the_idle_wait_at_once(odesk: Desk, sink: Sink) -> None:
    """The daemon wakes the sender for each mail stored: an auto-response leaves at once,
    not a poll later (a poll of a minute here: without the wake the test times out)."""
    app = odesk.app()
    loop = asyncio.new_event_loop()
    stop, wake = asyncio.Event(), asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete,
                              args=(run_sender(app, stop, poll=60, wake=wake),), daemon=True)
    thread.start()
    try:
        time.sleep(0.5)  # the first pass found nothing: the sender rests
        odesk.ingest(simple_mail())
        loop.call_soon_threadsafe(wake.set)
        wait_for(lambda: len(sink.received) == 2, timeout=10)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        app.close()
    assert not thread.is_alive()
    loop.close()


HOSTILE_SUBJECT = "Help =?UTF-8?Q?=0D=0A?=Bcc: victim@evil.example =?UTF-8?Q?=0A?=X-Evil: 1"


def test_hostile_subject_injects_no_header(odesk: Desk, sink: Sink) -> None:
    number = odesk.ingest(simple_mail(subject=HOSTILE_SUBJECT)).ticket
    send(odesk)
    assert all("victim@evil.example" not in r.rcpt_tos for r in sink.received)
    [reply] = sink.to("carol@example.org")
    msg = reply.message
    assert reply.rcpt_tos == ["carol@example.org"]
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert msg["Subject"].startswith(f"[Ticket#{number}] Help")
    assert "victim@evil.example" in msg["Subject"]  # kept as text, on the one line
    head = reply.data.split(b"\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith((b"bcc:", b"x-evil:")) for line in head.split(b"\r\n"))
    for note in sink.to("alice@example.com"):
        assert note.message["Bcc"] is None and note.message["X-Evil"] is None


@pytest.mark.parametrize("address", [
    "victim@x>\r\nRCPT TO:<victim@evil.example",
    "a@b.example\nBcc: x@y",
    "a b@example.org",
    "a@b@example.org",
    "a\x00@example.org",
    "\"quoted\"@example.org",
    "<a@example.org>",
    "",
])
def test_addresses_are_checked_before_any_header_or_envelope(address: str) -> None:
    with pytest.raises(InvalidAddress):
        check_address(address)


def test_answer_to_a_hostile_customer_address_queues_nothing(odesk: Desk) -> None:
    from maildesk.events import AnswerQueued
    from maildesk.outbound.dispatch import dispatch

    number = odesk.ingest(simple_mail()).ticket
    before = len(_rows(odesk))
    app = odesk.app()
    with app.db.transaction() as s:
        ticket = s.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        ticket.customer = "carol@example.org>\r\nRCPT TO:<victim@evil.example"
        with pytest.raises(InvalidAddress):
            dispatch(s, app.config, app.secret,
                     [AnswerQueued(ticket, "hi", "alice@example.com")])
    app.close()
    assert len(_rows(odesk)) == before


def test_a_working_pass_renews_its_short_leases(odesk: Desk, sink: Sink) -> None:
    """A pass slower than its lease keeps its rows: a second sender that looks while the
    first still works takes nothing, so nothing goes out twice."""
    for i in range(4):
        odesk.ingest(simple_mail(subject=f"n{i}", sender=f"c{i}@example.org"),
                     sender=f"c{i}@example.org")
    original = sink.handler.handle_DATA

    async def slow(server, session, envelope):  # noqa: ANN001, ANN202
        await asyncio.sleep(0.15)
        return await original(server, session, envelope)

    sink.handler.handle_DATA = slow  # type: ignore[method-assign]

    async def race() -> int:
        app1, app2 = odesk.app(), odesk.app()
        try:
            first = asyncio.create_task(send_due(app1, worker="slow", connections=1,
                                                 lease=timedelta(seconds=0.3)))
            await asyncio.sleep(0.7)  # two leases' time: only renewal keeps the rows held
            second = await send_due(app2, worker="late")
            await first
            return second.claimed
        finally:
            app1.close()
            app2.close()

    assert asyncio.run(race()) == 0
    keys = [r.message["Message-ID"] + r.rcpt_tos[0] for r in sink.received]
    assert len(keys) == 8 and len(set(keys)) == 8


def test_a_restarted_daemon_takes_back_its_own_leases_at_once(odesk: Desk,
                                                               sink: Sink) -> None:
    from maildesk.outbound.outbox import reclaim, worker_name

    odesk.ingest(simple_mail())
    app = odesk.app()
    try:
        me = worker_name(app.config)
        assert len(claim_due(app.db, me)) == 2  # then the daemon was killed
        assert len(claim_due(app.db, "another-daemon")) == 0  # the lease is live
        assert reclaim(app.db, "another-daemon") == 0  # not theirs to take
        assert reclaim(app.db, me) == 2
    finally:
        app.close()
    assert send(odesk) == 2


def test_a_row_whose_settle_keeps_failing_is_marked_failed(odesk: Desk, sink: Sink,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """issue 11: a settle bug must not resend the same mail every lease, for ever."""
    import time

    import maildesk.outbound.batches as batches_module
    from maildesk.outbound.outbox import SETTLE_LIMIT, outbox_rows, settle

    odesk.ingest(simple_mail())  # an auto-response to carol, a notification to alice
    poison = next(r.id for r in _rows(odesk) if r.kind == "autoreply")

    def buggy(db, config, outcomes, react=None):  # noqa: ANN001, ANN202
        if any(o.id == poison for o in outcomes):
            raise RuntimeError("bug in settle")
        return settle(db, config, outcomes, react)

    monkeypatch.setattr(batches_module, "settle", buggy)
    app = odesk.app()
    try:
        for _ in range(SETTLE_LIMIT + 2):
            try:
                asyncio.run(send_due(app, lease=timedelta(seconds=0.05)))
            except RuntimeError:
                pass  # the pass reports the bug; the next one comes after the lease
            time.sleep(0.1)
        with app.db.reading() as s:
            rows = {r["id"]: r for r in outbox_rows(s)}
    finally:
        app.close()
    assert len(sink.to("carol@example.org")) == SETTLE_LIMIT  # then never again
    assert rows[poison]["state"] == "failed" and rows[poison]["settle_failures"] == SETTLE_LIMIT
    assert "settle failed 3 times" in rows[poison]["last_error"]
    assert "RuntimeError: bug in settle" in rows[poison]["last_error"]
    [note] = [r for r in rows.values() if r["kind"] == "notification"]
    assert note["state"] == "sent" and len(sink.to("alice@example.com")) == 1
