"""Pending reminders and auto-close (SPEC 13), in process with a controllable clock: the
due rows a `/pending` writes, what `timers run` does when they come, and what a customer's
follow-up cancels. `timers run` and `timers --json` run as the real CLI."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select

from maildesk.store.models import Timer, utcnow
from maildesk.timers.run import run_until_idle
from tests.agents.conftest import events, new_ticket, notification, outbox, reply, send
from tests.conftest import Desk, simple_mail


def _rows(desk: Desk) -> list[tuple[str, datetime | None]]:
    app = desk.app()
    try:
        with app.db.reading() as s:
            return [(r.kind, r.due_at) for r in s.scalars(select(Timer).order_by(Timer.id))]
    finally:
        app.close()


def _run_at(desk: Desk, when: datetime) -> dict[str, int]:
    app = desk.app()
    try:
        with time_machine.travel(when.replace(tzinfo=UTC), tick=False):
            return dict(run_until_idle(app))
    finally:
        app.close()


def test_reminder_fires_once_for_the_owner(adesk: Desk) -> None:
    number = new_ticket(adesk)
    note = notification(adesk, number)
    before = utcnow()
    send(adesk, reply(note, "/lock\n/pending reminder +2h\n"), note)
    shown = adesk.show(number)
    assert shown["state"] == "pending reminder"
    [(kind, due)] = _rows(adesk)
    assert kind == "reminder" and due is not None
    assert timedelta(hours=2) <= due - before < timedelta(hours=2, minutes=1)
    assert _run_at(adesk, due - timedelta(seconds=1)) == {}  # not yet
    assert _run_at(adesk, due + timedelta(seconds=1)) == {"reminder": 1}
    assert _run_at(adesk, due + timedelta(seconds=2)) == {}  # done once
    shown = adesk.show(number)
    assert shown["state"] == "open"
    assert events(shown, "reminder")[0]["actor"] == "system"
    reminders = [m for m in outbox(adesk, "notification") if "Reminder" in str(m["Subject"])]
    assert [str(m["To"]) for m in reminders] == ["Alice Example <alice@example.com>"]
    assert "was pending until" in reminders[0].get_content()
    assert _rows(adesk) == []


def test_auto_close_fires_unless_the_customer_wrote_first(adesk: Desk) -> None:
    quiet = new_ticket(adesk, subject="quiet", sender="quiet@example.org")
    chatty = new_ticket(adesk, subject="chatty", sender="chatty@example.org")
    for number in (quiet, chatty):
        note = notification(adesk, number)
        send(adesk, reply(note, "/pending auto-close +7d\n"), note)
        assert adesk.show(number)["state"] == "pending auto-close"
    assert len(_rows(adesk)) == 2
    follow = simple_mail(subject=f"Re: [Ticket#{chatty}] chatty", sender="chatty@example.org",
                         body="One more thing.\n")
    assert adesk.ingest(follow, sender="chatty@example.org").ticket == chatty
    assert adesk.show(chatty)["state"] == "open"  # a follow-up ends any pending state
    assert len(_rows(adesk)) == 1
    assert _run_at(adesk, utcnow() + timedelta(days=8)) == {"auto-close": 1}
    assert adesk.show(quiet)["state"] == "closed successful"
    assert adesk.show(chatty)["state"] == "open"
    closed = [h for h in events(adesk.show(quiet), "state") if h["details"]["new"].startswith(
        "closed")]
    assert closed[0]["details"]["reason"] == "pending auto-close"


def test_pending_forms_and_errors(adesk: Desk) -> None:
    number = new_ticket(adesk)
    note = notification(adesk, number)
    out = send(adesk, reply(note, "/pending 2099-01-02 10:30 auto-close\n"), note)
    assert out.ticket == number
    [(kind, due)] = _rows(adesk)
    assert (kind, due) == ("auto-close", datetime(2099, 1, 2, 10, 30))  # UTC instance
    send(adesk, reply(note, "/pending reminder 2099-01-03\n"), note)
    assert _rows(adesk) == [("reminder", datetime(2099, 1, 3))]
    transcript = [m for m in outbox(adesk, "result")]
    for bad, why in [("+0m", "not in the future"), ("reminder +2x", "not a duration"),
                     ("reminder 2099-13-01", "not a date")]:
        send(adesk, reply(note, f"/pending {bad}\n"), note)
        transcript = outbox(adesk, "result")
        assert why in transcript[-1].get_content(), (bad, transcript[-1].get_content())
    assert _rows(adesk) == [("reminder", datetime(2099, 1, 3))]  # errors change nothing


def test_timers_cli_lists_and_runs_once(adesk: Desk) -> None:
    number = new_ticket(adesk)
    note = notification(adesk, number)
    send(adesk, reply(note, "/pending auto-close +1s\n"), note)
    result = adesk.cli("timers", "--json")
    assert result.returncode == 0, result.stderr.decode()
    listed = json.loads(result.stdout)
    assert [(r["ticket"], r["kind"]) for r in listed] == [(number, "auto-close")]
    time.sleep(1.2)
    first = adesk.cli("timers", "run", "--json")
    second = adesk.cli("timers", "run", "--json")
    assert first.returncode == second.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"auto-close": 1}
    assert json.loads(second.stdout) == {}
    assert adesk.show(number)["state"] == "closed successful"
    assert "nothing scheduled" in adesk.cli("timers").stdout.decode()
