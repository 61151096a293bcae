"""SLA clocks, helpdesk levels and lock timeouts (SPEC 13), in process on a controllable
clock: what `show --json` says is due, the warning and the breach with their mails and
history, what an answer and a customer update do to the clocks, pending stopping them, a
level moving an unanswered ticket, a lock released by its timeout."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from maildesk.store.models import utcnow
from maildesk.timers.run import run_until_idle
from tests.agents.conftest import agent_desk, events, notification, outbox, reply, send
from tests.conftest import Desk, simple_mail

SUPPORT = """\
    sla: {first_response: 4h, update: 8h, solution: 2d, warn_before: 30m}
    escalate_to: Sales
    escalate_after: 2h
"""


@pytest.fixture
def tdesk(tmp_path: Path) -> Desk:
    desk = agent_desk(tmp_path / "desk")
    text = desk.config_path.read_text()
    text = text.replace("    on_closed_followup: reopen\n",
                        "    on_closed_followup: reopen\n" + SUPPORT, 1)
    text = text.replace("  system_id: 10\n", "  system_id: 10\n  lock_timeout: 30m\n", 1)
    desk.config_path.write_text(text)
    desk.config  # noqa: B018  (a config this fixture broke fails here)
    return desk


@contextmanager
def at(when: datetime) -> Iterator[None]:
    with time_machine.travel(when.replace(tzinfo=UTC), tick=False):
        yield


def run(desk: Desk, when: datetime) -> dict[str, int]:
    app = desk.app()
    try:
        with at(when):
            return dict(run_until_idle(app))
    finally:
        app.close()


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ticket(desk: Desk, t0: datetime, sender: str = "carol@example.org") -> str:
    with at(t0):
        outcome = desk.ingest(simple_mail(sender=sender), sender=sender)
    assert outcome.ticket
    return outcome.ticket


def test_an_unanswered_ticket_moves_to_the_second_level(tdesk: Desk) -> None:
    t0 = utcnow().replace(microsecond=0) + timedelta(minutes=1)
    number = _ticket(tdesk, t0)
    shown = tdesk.show(number)
    assert shown["escalations"] == {"first_response_due": iso(t0 + timedelta(hours=4)),
                                    "update_due": None,
                                    "solution_due": iso(t0 + timedelta(days=2)),
                                    "escalated": []}
    assert run(tdesk, t0 + timedelta(hours=1)) == {}
    assert run(tdesk, t0 + timedelta(hours=2, seconds=1)) == {"level": 1}
    moved = tdesk.show(number)
    assert moved["queue"] == "Sales"
    assert events(moved, "escalated")[0]["details"] == {"old": "Support", "new": "Sales",
                                                          "level": "Sales"}
    # Sales has no SLA: the clocks of Support are gone with the move
    assert moved["escalations"]["first_response_due"] is None
    note = [m for m in outbox(tdesk, "notification") if "moved" in m.get_content()]
    assert note and "alice@example.com" in str(note[-1]["To"])


def test_warning_breach_and_answer(tdesk: Desk) -> None:
    text = tdesk.config_path.read_text().replace("    escalate_to: Sales\n    escalate_after: 2h\n",
                                                 "")
    tdesk.config_path.write_text(text)
    t0 = utcnow().replace(microsecond=0) + timedelta(minutes=1)
    number = _ticket(tdesk, t0)
    assert run(tdesk, t0 + timedelta(hours=3, minutes=29)) == {}
    assert run(tdesk, t0 + timedelta(hours=3, minutes=31)) == {"escalation warning": 1}
    warning = [m for m in outbox(tdesk, "notification")
               if "Escalation warning" in str(m["Subject"])]
    assert len(warning) == 1 and "alice@example.com" in str(warning[0]["To"])
    assert "first response time of ticket" in warning[0].get_content()
    assert "ends in 29m" in warning[0].get_content()
    assert run(tdesk, t0 + timedelta(hours=4, seconds=5)) == {"escalation": 1}
    assert run(tdesk, t0 + timedelta(hours=5)) == {}  # once
    shown = tdesk.show(number)
    assert [h["details"]["clock"] for h in events(shown, "escalation warning")] == [
        "first_response"]
    assert [h["details"]["clock"] for h in events(shown, "escalation")] == ["first_response"]
    assert shown["escalations"]["escalated"] == ["first_response"]
    assert [t["number"] for t in tdesk.tickets("--escalated")] == [number]
    breach = [m for m in outbox(tdesk, "notification") if str(m["Subject"]).startswith(
        f"[Ticket#{number}] Escalation:")]
    assert len(breach) == 1 and "is over" in breach[0].get_content()

    # an agent's answer stops the first-response clock
    note = notification(tdesk, number)
    with at(t0 + timedelta(hours=5)):
        send(tdesk, reply(note, "We are on it.\n"), note)
    shown = tdesk.show(number)
    assert shown["escalations"]["first_response_due"] is None
    assert shown["escalations"]["escalated"] == []
    assert tdesk.tickets("--escalated") == []
    # a customer update starts the update clock; the next answer stops it
    follow = simple_mail(subject=f"Re: [Ticket#{number}] Printer on fire", body="Still hot.\n")
    with at(t0 + timedelta(hours=6)):
        tdesk.ingest(follow)
    assert tdesk.show(number)["escalations"]["update_due"] == iso(t0 + timedelta(hours=14))
    with at(t0 + timedelta(hours=7)):
        tdesk.ingest(simple_mail(subject=f"Re: [Ticket#{number}] x", body="And smoke.\n"))
    # each customer update restarts it
    assert tdesk.show(number)["escalations"]["update_due"] == iso(t0 + timedelta(hours=15))
    with at(t0 + timedelta(hours=8)):
        send(tdesk, reply(note, "Fixed.\n"), note)
    assert tdesk.show(number)["escalations"]["update_due"] is None


def test_pending_stops_the_clocks(tdesk: Desk) -> None:
    text = tdesk.config_path.read_text().replace("    escalate_to: Sales\n    escalate_after: 2h\n",
                                                 "")
    tdesk.config_path.write_text(text)
    t0 = utcnow().replace(microsecond=0) + timedelta(minutes=1)
    number = _ticket(tdesk, t0)
    note = notification(tdesk, number)
    with at(t0 + timedelta(hours=1)):
        send(tdesk, reply(note, "/pending reminder +1d\n"), note)
    stopped = tdesk.show(number)["escalations"]
    assert stopped["first_response_due"] is None and stopped["solution_due"] is None
    assert run(tdesk, t0 + timedelta(hours=20)) == {}  # no clock runs while pending
    with at(t0 + timedelta(hours=10)):  # the customer writes: pending ends, clocks run on
        tdesk.ingest(simple_mail(subject=f"Re: [Ticket#{number}] x", body="Any news?\n"))
    resumed = tdesk.show(number)["escalations"]
    # 3 of the 4 hours were left when it stopped at t0+1h
    assert resumed["first_response_due"] == iso(t0 + timedelta(hours=13))
    assert resumed["solution_due"] == iso(t0 + timedelta(hours=10 + 47))


def test_a_lock_nobody_touches_is_released(tdesk: Desk) -> None:
    t0 = utcnow().replace(microsecond=0) + timedelta(minutes=1)
    number = _ticket(tdesk, t0)
    note = notification(tdesk, number)
    with at(t0 + timedelta(minutes=1)):
        send(tdesk, reply(note, "/lock\n/pending auto-close +1d\n"), note)
    with at(t0 + timedelta(minutes=20)):  # touched: the timeout starts again
        send(tdesk, reply(note, "/priority high\n"), note)
    assert run(tdesk, t0 + timedelta(minutes=45)) == {}
    assert run(tdesk, t0 + timedelta(minutes=51)) == {"unlock": 1}
    shown = tdesk.show(number)
    assert shown["locked"] is False
    assert events(shown, "unlock")[-1]["details"]["reason"] == "timeout"
    told = [m for m in outbox(tdesk, "notification") if "Lock released" in str(m["Subject"])]
    assert told and "lock is released" in told[0].get_content()


def test_a_breach_and_a_level_move_are_webhook_events(tdesk: Desk) -> None:
    from sqlalchemy import select

    from maildesk.store.models import OutboxMail
    from maildesk.webhooks.pump import pump

    text = tdesk.config_path.read_text() + (
        "webhooks:\n  - url: http://127.0.0.1:9/hook\n    secret_file: ./hook.secret\n"
        "    events: [ticket.escalated]\n")
    tdesk.config_path.write_text(text)
    (tdesk.root / "hook.secret").write_text("s3cret\n")
    t0 = utcnow().replace(microsecond=0) + timedelta(minutes=1)

    def pumped(when: datetime) -> list[str]:
        app = tdesk.app()
        try:
            with at(when):
                pump(app)
            with app.db.reading() as s:
                return [str(r.subject) for r in s.scalars(
                    select(OutboxMail).where(OutboxMail.kind == "webhook"))]
        finally:
            app.close()

    assert pumped(t0) == []  # the cursor starts at the history as it is
    _ticket(tdesk, t0)
    assert run(tdesk, t0 + timedelta(hours=2, seconds=1)) == {"level": 1}
    other = _ticket(tdesk, t0 + timedelta(hours=3), sender="dave@example.org")
    text = tdesk.config_path.read_text().replace("    escalate_to: Sales\n    escalate_after: 2h\n",
                                                 "")
    tdesk.config_path.write_text(text)
    assert run(tdesk, t0 + timedelta(hours=7, seconds=1))["escalation"] == 1
    assert len(events(tdesk.show(other), "escalation")) == 1
    assert len(pumped(t0 + timedelta(hours=8))) == 2  # the move and the breach
