"""The agent's ordinary day: a reply becomes the answer, /note keeps it internal, commands
change the ticket and come back as a transcript."""

from __future__ import annotations

import pytest

from tests.agents.conftest import events, new_ticket, notification, outbox, reply, send
from tests.conftest import Desk


def test_reply_text_above_the_quote_goes_to_the_customer(adesk: Desk) -> None:
    number = new_ticket(adesk)
    note = notification(adesk, number)
    assert note.reply_to.startswith("support+") and note.reply_to.endswith("@example.com")
    outcome = send(adesk, reply(note, "Hello Carol,\nplease unplug it.\n\n-- \nAlice"), note)
    assert outcome.ticket == number

    answers = outbox(adesk, "answer")
    assert len(answers) == 1
    answer = answers[0]
    assert answer["To"] == "carol@example.org"
    assert "support@example.com" in answer["From"] and "alice" not in answer["From"]
    assert f"[Ticket#{number}]" in answer["Subject"]
    text = answer.get_content()
    assert "please unplug it." in text
    assert "Example Support wrote" not in text and "> " not in text and "-- \nAlice" not in text
    assert answer["In-Reply-To"]  # the customer's mail, so their client threads it

    shown = adesk.show(number)
    article = shown["articles"][-1]
    assert article["sender_type"] == "agent" and article["visibility"] == "public"
    assert article["body"] == "Hello Carol,\nplease unplug it."
    assert events(shown, "answer sent")
    assert not outbox(adesk, "result")  # no commands: no transcript


def test_note_keeps_the_text_internal(adesk: Desk) -> None:
    number = new_ticket(adesk)
    note = notification(adesk, number)
    send(adesk, reply(note, "/note\nCarol called, she is fine.\n"), note)
    assert not outbox(adesk, "answer")
    shown = adesk.show(number)
    article = shown["articles"][-1]
    assert article["visibility"] == "internal"
    assert article["body"] == "Carol called, she is fine."
    assert events(shown, "note")
    (result,) = outbox(adesk, "result")
    assert result["Subject"].startswith("Processed: ")
    assert "> /note" in result.get_content()


@pytest.mark.backends("sqlite", "postgresql", "mariadb")
def test_commands_only_send_nothing_to_the_customer(adesk: Desk) -> None:
    number = new_ticket(adesk)
    note = notification(adesk, number)
    mail = reply(note, "/priority 5\n/LOCK\n/tag +vip -later\n/close\n")
    send(adesk, mail, note)
    shown = adesk.show(number)
    assert shown["priority"] == 5
    assert shown["locked"] is True and shown["owner"] == "alice@example.com"
    assert shown["tags"] == ["vip"]
    assert shown["state"] == "closed successful"
    assert not outbox(adesk, "answer")
    (result,) = outbox(adesk, "result")
    assert result["Subject"] == "Processed: Re: " + note.subject
    assert result["To"] == "alice@example.com"
    assert result["Auto-Submitted"] == "auto-generated"
    assert result["In-Reply-To"]  # threaded to the agent's mail
    body = result.get_content()
    for line in ("> /priority 5", "> /LOCK", "> /tag +vip -later", "> /close"):
        assert line in body
    assert "priority 3 -> 5" in body
    for event in ("priority", "lock", "tags", "state"):
        assert all(h["actor"] == "alice@example.com" for h in events(shown, event)), event


def test_commands_and_text_together(adesk: Desk) -> None:
    number = new_ticket(adesk)
    note = notification(adesk, number)
    send(adesk, reply(note, "/close\n\nFixed, closing. Write again any time.\n"), note)
    shown = adesk.show(number)
    assert shown["state"] == "closed successful"
    (answer,) = outbox(adesk, "answer")
    assert "Fixed, closing." in answer.get_content()
    assert "/close" not in answer.get_content()
