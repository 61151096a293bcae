"""The first level through the real pipeline (`maildesk deliver`, as an MTA runs it): a new
ticket's auto-response offers the matching entries; a participant's "solved" closes the
ticket; a stranger, a quote or a later line does not."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from sqlalchemy import select

from maildesk.outbound.deferred import message_bytes
from maildesk.store.models import OutboxMail
from tests.conftest import Desk, simple_mail
from tests.kb.conftest import kb_desk


def autoresponses(desk: Desk) -> list[EmailMessage]:
    app = desk.app()
    try:
        with app.db.transaction() as session:
            rows = session.execute(select(OutboxMail).where(OutboxMail.kind == "autoreply")
                                   .order_by(OutboxMail.id)).scalars().all()
            return [message_from_bytes(  # type: ignore[misc]
                message_bytes(session, app.config, r.raw, r.spec_json, r.message_id),
                policy=default) for r in rows]
    finally:
        app.close()


def body(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return part.get_content()


def send(desk: Desk, raw: bytes, sender: str, real: bool) -> int:
    """`maildesk deliver` as an MTA runs it (real), or the same pipeline in this process."""
    if real:
        return desk.deliver(raw, sender=sender)
    return 0 if desk.ingest(raw, sender=sender).code == 250 else 1


def new_ticket(desk: Desk, subject: str, text: str, sender: str = "carol@example.org",
               real: bool = False) -> tuple[str, EmailMessage]:
    assert send(desk, simple_mail(subject=subject, body=text, sender=sender), sender,
                real) == 0
    number = desk.tickets()[0]["number"]
    return number, autoresponses(desk)[-1]


def reply(desk: Desk, to: EmailMessage, text: str, sender: str = "carol@example.org",
          real: bool = False) -> int:
    headers = {"In-Reply-To": to["Message-ID"], "References": to["Message-ID"]}
    return send(desk, simple_mail(subject="Re: " + str(to["Subject"]), body=text,
                                  sender=sender, headers=headers), sender, real)


def test_new_ticket_auto_response_offers_the_entry_with_its_link(tmp_path: Path) -> None:
    desk = kb_desk(tmp_path / "d", extra="web:\n  base_url: https://help.example.com/\n")
    number, auto = new_ticket(desk, "cant login", "Hello,\nI forgot my password and now I "
                              "can't get into my account.\nThanks\nJim\n", real=True)
    text = body(auto)
    assert "How do I reset my password?" in text
    assert "Open the sign-in page and choose Forgot password?." in text
    assert "https://help.example.com/kb/reset-password" in text
    history = [h["event"] for h in desk.show(number)["history"]]
    assert "kb suggestions offered" in history


def test_unrelated_mail_gets_no_suggestion_and_no_link(kdesk: Desk) -> None:
    number, auto = new_ticket(kdesk, "job application", "Dear Sir or Madam,\nI am applying "
                              "for the graphic designer position. My CV is attached.\n")
    text = body(auto)
    assert "may already help" not in text and "/kb/" not in text
    assert "kb suggestions offered" not in [h["event"] for h in kdesk.show(number)["history"]]


def test_spanish_mail_gets_the_spanish_entry_without_a_base_url(kdesk: Desk) -> None:
    _, auto = new_ticket(kdesk, "contraseña", "Hola,\nhe olvidado mi contraseña y no puedo "
                         "iniciar sesion. Que hago?\nGracias\n")
    text = body(auto)
    assert "¿Cómo restablezco mi contraseña?" in text
    assert "/kb/" not in text  # no web.base_url: no link


def test_customer_solved_closes_the_ticket(kdesk: Desk) -> None:
    number, auto = new_ticket(kdesk, "cant login", "I forgot my password, can't log in.\n")
    assert reply(kdesk, auto, "Solved!\n\nThanks, the reset link worked.\n", real=True) == 0
    shown = kdesk.show(number)
    assert shown["state"] == "closed successful"
    solved = [h for h in shown["history"] if h["event"] == "solved by customer"]
    assert solved and solved[0]["actor"] == "carol@example.org"
    assert len(autoresponses(kdesk)) == 1  # closing sends nothing more


def test_localised_words_and_the_command_close(kdesk: Desk) -> None:
    for i, word in enumerate(["/solved", "gelöst", "Resuelto.", "erledigt"]):
        sender = f"c{i}@example.org"
        number, auto = new_ticket(kdesk, f"question {i}", "Where is my order?\n", sender)
        assert reply(kdesk, auto, f"{word}\n", sender=sender) == 0
        assert kdesk.show(number)["state"] == "closed successful", word


def test_stranger_quoted_or_later_solved_does_not_close(kdesk: Desk) -> None:
    number, auto = new_ticket(kdesk, "cant login", "I forgot my password, can't log in.\n")
    assert reply(kdesk, auto, "solved\n", sender="mallory@evil.example") == 0
    assert reply(kdesk, auto, "It still does not work.\nsolved? no.\nsolved\n") == 0
    assert reply(kdesk, auto, "Still broken.\n\nOn Mon, 2 Nov 2026, Support wrote:\n"
                              "> solved\n") == 0
    assert reply(kdesk, auto, "solved it myself by waiting, but now the app crashes\n") == 0
    shown = kdesk.show(number)
    assert shown["state"] != "closed successful"
    assert "solved by customer" not in [h["event"] for h in shown["history"]]
