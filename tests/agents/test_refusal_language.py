"""A refusal notice says why in the agent's language (the reasons were English inside the
Spanish and German templates), while history keeps the English reason for the record."""

from __future__ import annotations

import pytest

from maildesk.reasons import Reason, localized
from tests.agents.conftest import new_ticket, notification, outbox, reply, send
from tests.agents.test_forgery import ATTACK, assert_refused
from tests.conftest import Desk

ALICE = "  - address: alice@example.com\n    name: Alice Example\n"


@pytest.mark.parametrize(("language", "said"), [
    ("de", "Grund:           kein Antwort-Token; keine Authentication-Results eines "
           "vertrauenswürdigen MTA"),
    ("es", "sin token de respuesta; ningún Authentication-Results de un MTA de confianza"),
    ("en", "no reply token; no Authentication-Results from a trusted MTA"),
])
def test_the_notice_gives_the_reason_in_the_agents_language(adesk: Desk, language: str,
                                                             said: str) -> None:
    text = adesk.config_path.read_text()
    adesk.config_path.write_text(text.replace(ALICE, ALICE + f"    language: {language}\n", 1))
    ticket = notification(adesk, new_ticket(adesk))
    send(adesk, reply(ticket, ATTACK, to="support@example.com", in_reply_to=None),
         recipients=("support@example.com",))
    assert_refused(adesk, ticket.number, "no reply token; no Authentication-Results")
    (notice,) = outbox(adesk, "result")
    assert said in " ".join(notice.get_content().split("\n"))


def test_a_reason_is_its_english_text_and_translates_its_values() -> None:
    inner = Reason("%(count)s From headers", count=2)
    reason = Reason("no unambiguous sender: %(why)s", why=inner)
    assert reason == "no unambiguous sender: 2 From headers"
    assert reason.text("de") == "kein eindeutiger Absender: 2 From-Kopfzeilen"
    assert localized([reason, "plain words"], "es") == \
        "remitente ambiguo: 2 cabeceras From; plain words"
    assert Reason("a msgid no catalog has: %(x)s", x=1).text("de") == \
        "a msgid no catalog has: 1"
