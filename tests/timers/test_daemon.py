"""The scheduler in the real daemon, in real time with second-scale durations: a reminder
fires about when it is due (no polling interval in between) and its mail reaches the relay;
a restart runs what fell due while the daemon was stopped; two daemons on one PostgreSQL
run each due action once."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from maildesk.store.db import Database
from maildesk.store.models import History, OutboxMail, Ticket, Timer
from tests.agents.conftest import notification, reply
from tests.conftest import Desk, make_desk, simple_mail
from tests.db.serving import Served, Sink, free_port, send, serve_desks, wait_for


@pytest.fixture
def sink() -> Iterator[Sink]:
    relay = Sink()
    yield relay
    relay.stop()


def _served_desk(root: Path, relay: int, support: str = "") -> tuple[Desk, int]:
    """A desk for `maildesk serve`; `support` adds keys to the Support queue."""
    desk = make_desk(root, relay_port=relay)
    port = free_port()
    text = desk.config_path.read_text().replace("smtp: 127.0.0.1:0", f"smtp: 127.0.0.1:{port}")
    text = text.replace("    on_closed_followup: reopen\n",
                        "    on_closed_followup: reopen\n" + support, 1)
    desk.config_path.write_text(text.replace("outbound:\n", "outbound:\n  retry_first: 1\n", 1))
    return desk, port


def _ticket(db: Database, desk: Desk, port: int, who: str) -> str:
    assert send(port, simple_mail(subject=f"help {who}", sender=who), who) == 250
    numbers: list[str] = []

    def made() -> bool:
        with db.reading() as s:
            numbers[:] = s.scalars(select(Ticket.number).where(Ticket.customer == who)).all()
        return bool(numbers)

    wait_for(made, 30, f"the ticket of {who}")
    return numbers[0]


def _command(desk: Desk, port: int, number: str, commands: str) -> None:
    note = notification(desk, number)
    raw = reply(note, commands)
    assert send(port, raw, "alice@example.com", note.reply_to) == 250


def _history(db: Database, number: str, event: str) -> list[datetime]:
    """When the ticket's `event` entries were recorded."""
    with db.reading() as s:
        return list(s.scalars(select(History.at).join(Ticket, Ticket.id == History.ticket_id)
                              .where(Ticket.number == number, History.event == event)))


def _sent_ids(db: Database, number: str, word: str) -> list[str]:
    with db.reading() as s:
        return list(s.scalars(select(OutboxMail.message_id)
                              .join(Ticket, Ticket.id == OutboxMail.ticket_id)
                              .where(Ticket.number == number, OutboxMail.subject.contains(word))))


def _outbox_picture(db: Database, daemons: list[Served]) -> str:
    """The outbox rows and the daemons' log tails, for a failure message."""
    with db.reading() as s:
        rows = s.execute(select(OutboxMail.id, OutboxMail.subject, OutboxMail.state,
                                OutboxMail.attempts, OutboxMail.next_attempt_at,
                                OutboxMail.claimed_by, OutboxMail.claimed_until,
                                OutboxMail.last_error).order_by(OutboxMail.id)).all()
    logs = [d.log_path.read_text(errors="replace").splitlines()[-15:] for d in daemons]
    return "\n".join([*(str(tuple(r)) for r in rows), *("\n".join(t) for t in logs)])


def test_a_reminder_fires_on_time_and_reaches_the_relay(tmp_path: Path, sink: Sink) -> None:
    desk, port = _served_desk(tmp_path / "desk", sink.port)
    daemon = Served(desk, port)
    db = Database(desk.config.database)
    try:
        number = _ticket(db, desk, port, "carol@example.org")
        wait_for(lambda: any(r == "alice@example.com" for _, r in sink.received), 30,
                 "the new-ticket notification")
        _command(desk, port, number, "/pending reminder +3s\n")
        with db.reading() as s:
            due = s.scalar(select(Timer.due_at).join(Ticket).where(Ticket.number == number))
        assert due is not None
        wait_for(lambda: bool(_history(db, number, "reminder")), 30, "the reminder")
        fired = _history(db, number, "reminder")[0]
        # Sleeping until the due time, not polling: it fires right after it (the bound is
        # loose for a loaded machine; a one-minute poll would miss it by far).
        assert timedelta(0) <= fired - due < timedelta(seconds=5), (due, fired)
        ids = _sent_ids(db, number, "Reminder")
        assert len(ids) == 1
        wait_for(lambda: (ids[0], "alice@example.com") in sink.received, 30,
                 "the reminder at the relay")
    finally:
        daemon.stop()
        db.dispose()
    assert daemon.proc.returncode == 0, daemon.log()[-3000:]


def test_a_restart_runs_what_fell_due_while_stopped(tmp_path: Path, sink: Sink) -> None:
    desk, port = _served_desk(tmp_path / "desk", sink.port)
    db = Database(desk.config.database)
    daemon = Served(desk, port)
    try:
        number = _ticket(db, desk, port, "carol@example.org")
        _command(desk, port, number, "/pending auto-close +2s\n")
        daemon.stop()
        with db.reading() as s:
            assert s.scalar(select(Ticket.state).where(Ticket.number == number)) == \
                "pending auto-close"
        time.sleep(2.5)  # due while nobody runs
        daemon = Served(desk, port)
        wait_for(lambda: bool(_history(db, number, "state") and _state(db, number) ==
                              "closed successful"), 20, "the auto-close at start")
    finally:
        daemon.stop()
        db.dispose()


def test_escalation_mails_reach_the_relay_and_an_answer_stops_them(tmp_path: Path,
                                                                  sink: Sink) -> None:
    desk, port = _served_desk(tmp_path / "desk", sink.port,
                              "    sla: {first_response: 6s, warn_before: 3s}\n")
    daemon = Served(desk, port)
    db = Database(desk.config.database)
    try:
        late = _ticket(db, desk, port, "late@example.org")
        answered = _ticket(db, desk, port, "answered@example.org")
        note = notification(desk, answered)
        assert send(port, reply(note, "Looking into it now.\n"), "alice@example.com",
                    note.reply_to) == 250
        wait_for(lambda: bool(_history(db, late, "escalation")), 40, "the escalation")
        warned, breached = _history(db, late, "escalation warning"), _history(db, late,
                                                                              "escalation")
        assert len(warned) == 1 and len(breached) == 1
        assert warned[0] < breached[0]
        ids = _sent_ids(db, late, "Escalation")
        assert len(ids) == 2  # the warning and the breach, to alice
        wait_for(lambda: all((i, "alice@example.com") in sink.received for i in ids), 30,
                 "the escalation mails at the relay")
        time.sleep(1)  # the answered ticket's clock would have run out by now
        assert _history(db, answered, "escalation warning") == []
        assert _history(db, answered, "escalation") == []
        assert _sent_ids(db, answered, "Escalation") == []
    finally:
        daemon.stop()
        db.dispose()


def test_a_level_escalation_moves_the_ticket(tmp_path: Path, sink: Sink) -> None:
    desk, port = _served_desk(tmp_path / "desk", sink.port,
                              "    escalate_to: Sales\n    escalate_after: 3s\n")
    daemon = Served(desk, port)
    db = Database(desk.config.database)
    try:
        number = _ticket(db, desk, port, "carol@example.org")
        wait_for(lambda: bool(_history(db, number, "escalated")), 30, "the level escalation")
        with db.reading() as s:
            assert s.scalar(select(Ticket.queue).where(Ticket.number == number)) == "Sales"
            moved = s.scalars(select(OutboxMail.message_id).join(Ticket).where(
                Ticket.number == number, OutboxMail.kind == "notification")).all()
        assert len(moved) == 2  # new ticket, then moved into Sales
        wait_for(lambda: (moved[-1], "alice@example.com") in sink.received, 30,
                 "the Sales agents' notification at the relay")
    finally:
        daemon.stop()
        db.dispose()


def _state(db: Database, number: str) -> str:
    with db.reading() as s:
        return str(s.scalar(select(Ticket.state).where(Ticket.number == number)))


@pytest.mark.backends("postgresql")
def test_two_daemons_run_each_due_action_once(database_url: str, tmp_path: Path,
                                              sink: Sink) -> None:
    nodes = serve_desks(tmp_path, database_url, 2, sink.port)
    daemons = [Served(desk, port) for desk, port in nodes]
    db = Database(database_url)
    try:
        numbers = []
        for i in range(12):  # each daemon writes half the due times: both wake and race
            desk, port = nodes[i % 2]
            number = _ticket(db, desk, port, f"cust{i}@example.org")
            _command(desk, port, number, "/pending reminder +2s\n")
            numbers.append(number)
        wait_for(lambda: all(_history(db, n, "reminder") for n in numbers), 90,
                 "every reminder")
        time.sleep(2)  # a second firing would show up by now
        for n in numbers:
            assert len(_history(db, n, "reminder")) == 1, n
            assert len(_sent_ids(db, n, "Reminder")) == 1, n
        with db.reading() as s:
            assert s.scalar(select(Timer.id).where(Timer.kind == "reminder")) is None
        try:
            wait_for(lambda: all(any(mid == i for mid, _ in sink.received)
                                 for n in numbers for i in _sent_ids(db, n, "Reminder")), 60,
                     "the reminders at the relay")
        except AssertionError as exc:  # seen once in CI, not since: say where they stood
            raise AssertionError(f"{exc}\n{_outbox_picture(db, daemons)}") from None
        counts = Counter(mid for mid, _ in sink.received)
        for n in numbers:
            assert counts[_sent_ids(db, n, "Reminder")[0]] == 1
    finally:
        for d in daemons:
            d.stop()
        db.dispose()
