"""/faq NAME in an agent's answer, through the agent mail path (authenticated by the
Authentication-Results of the trusted MTA, as tests/agents does); and the list the web's
reply form offers."""

from __future__ import annotations

import shutil
from pathlib import Path

from maildesk.kb.library import EXAMPLE, entries_for
from tests.agents.conftest import agent_desk, events, new_ticket, notification, outbox, reply, send
from tests.conftest import Desk
from tests.kb.conftest import KB_CONFIG


def faq_desk(root: Path) -> Desk:
    root.mkdir(parents=True)
    shutil.copytree(EXAMPLE, root / "knowledge")
    return agent_desk(root, extra=KB_CONFIG)


def test_faq_alone_is_a_whole_answer(tmp_path: Path) -> None:
    desk = faq_desk(tmp_path / "d")
    number = new_ticket(desk)
    note = notification(desk, number)
    send(desk, reply(note, "/faq reset-password\n"), note)
    (answer,) = outbox(desk, "answer")
    text = answer.get_content()
    assert "Open the sign-in page and choose **Forgot password?**" in text
    shown = desk.show(number)
    assert events(shown, "faq")[0]["details"]["entry"] == "reset-password"
    (result,) = outbox(desk, "result")
    assert "the answer gets the entry 'reset-password'" in result.get_content()


def test_faq_goes_below_the_agents_text(tmp_path: Path) -> None:
    desk = faq_desk(tmp_path / "d")
    number = new_ticket(desk)
    note = notification(desk, number)
    send(desk, reply(note, "/faq passwort-zuruecksetzen\nHallo Carol,\nso geht es:\n"), note)
    (answer,) = outbox(desk, "answer")
    text = answer.get_content()
    assert text.index("so geht es:") < text.index("Öffnen Sie die Anmeldeseite")


def test_unknown_entry_refuses_the_whole_block(tmp_path: Path) -> None:
    desk = faq_desk(tmp_path / "d")
    number = new_ticket(desk)
    note = notification(desk, number)
    send(desk, reply(note, "/faq no-such-thing\n/close\nHello\n"), note)
    assert not outbox(desk, "answer")
    assert desk.show(number)["state"] != "closed successful"
    (result,) = outbox(desk, "result")
    assert "no knowledge base entry 'no-such-thing' (entries: " in result.get_content()


def test_entries_for_the_reply_form_follow_queue_and_language(tmp_path: Path) -> None:
    config = faq_desk(tmp_path / "d").config
    support_de = entries_for(config, "Support", "de-AT")
    assert support_de[0].language == "de"
    names = [e.name for e in support_de]
    assert "rechnung-kopie" in names  # queues: [Support, Billing]
    sales = [e.name for e in entries_for(config, "Sales", "en")]
    assert "reset-password" in sales and "invoice-copy" not in sales
