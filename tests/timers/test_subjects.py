"""The timers' mails speak the agent's language in the subject too (issue 14): a reminder,
an escalation warning and breach, and a released lock are titled from
`agent/<kind>_subject.txt` in the agent's language, else the queue's."""

from __future__ import annotations

from datetime import timedelta

from maildesk.store.models import utcnow
from tests.agents.conftest import new_ticket, notification, outbox, reply, send
from tests.conftest import Desk
from tests.timers.test_sla import _ticket, at, run

ALICE = "  - address: alice@example.com\n    name: Alice Example\n"


def _speak(desk: Desk, *, agent: str | None = None, queue: str | None = None) -> None:
    text = desk.config_path.read_text()
    if agent:
        text = text.replace(ALICE, ALICE + f"    language: {agent}\n", 1)
    if queue:
        text = text.replace("    display_name: Example Support\n    language: en\n",
                            f"    display_name: Example Support\n    language: {queue}\n", 1)
    text = text.replace("    escalate_to: Sales\n    escalate_after: 2h\n", "")
    desk.config_path.write_text(text)
    desk.config  # noqa: B018  (a config this helper broke fails here)


def _subjects(desk: Desk, number: str) -> list[str]:
    return [str(m["Subject"]) for m in outbox(desk, "notification")
            if f"[Ticket#{number}]" in str(m["Subject"])]


def test_reminder_and_released_lock_in_the_agents_language(tdesk: Desk) -> None:
    _speak(tdesk, agent="de")
    number = new_ticket(tdesk)
    note = notification(tdesk, number)
    t0 = utcnow().replace(microsecond=0) + timedelta(minutes=1)
    with at(t0):
        send(tdesk, reply(note, "/lock\n/pending reminder +2h\n"), note)
    assert run(tdesk, t0 + timedelta(minutes=31)) == {"unlock": 1}
    assert run(tdesk, t0 + timedelta(hours=2, minutes=1)) == {"reminder": 1}
    subjects = _subjects(tdesk, number)
    assert f"[Ticket#{number}] Sperre aufgehoben: Printer on fire" in subjects
    assert f"[Ticket#{number}] Erinnerung: Printer on fire" in subjects
    assert not [s for s in subjects if "Reminder" in s or "Lock released" in s]


def test_escalations_in_the_queues_language(tdesk: Desk) -> None:
    _speak(tdesk, queue="es")
    t0 = utcnow().replace(microsecond=0) + timedelta(minutes=1)
    number = _ticket(tdesk, t0)
    assert run(tdesk, t0 + timedelta(hours=3, minutes=31)) == {"escalation warning": 1}
    assert run(tdesk, t0 + timedelta(hours=4, seconds=5)) == {"escalation": 1}
    subjects = _subjects(tdesk, number)
    assert f"[Ticket#{number}] Aviso de escalado: Printer on fire" in subjects
    assert f"[Ticket#{number}] Escalado: Printer on fire" in subjects
    assert not [s for s in subjects if "Escalation" in s]

