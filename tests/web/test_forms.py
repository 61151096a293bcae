"""The ticket page's forms run the mail command engine: the same permissions, locks and
all-or-none rule as a command mail; an answer goes out through the outbox."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from maildesk.store.models import Article, History, OutboxMail
from tests.web.conftest import Web

# The engine's row lock and all-or-none savepoint on every backend.
pytestmark = pytest.mark.backends


def _act(web: Web, client, number: str, **data: str):  # noqa: ANN001, ANN202
    csrf = web.csrf(client, f"/tickets/{number}")
    return client.post(f"/tickets/{number}/act", data={"csrf": csrf, **data})


def _rows(web: Web, model, **where):  # noqa: ANN001, ANN202
    with web.app.db.reading() as session:
        query = select(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        rows = list(session.execute(query).scalars())
        session.expunge_all()
    return rows


def test_reply_goes_to_the_customer_through_the_outbox(web: Web) -> None:
    number = web.ticket()
    alice = web.sign_in("alice@example.com")
    answer = _act(web, alice, number, text="We are on it.", mode="reply")
    assert answer.status_code == 303 and answer.headers["location"] == f"/tickets/{number}?done=1"
    answers = _rows(web, OutboxMail, kind="answer")
    assert [r.to_addr for r in answers] == ["carol@example.org"]
    assert b"We are on it." in answers[0].raw
    article = _rows(web, Article, kind="answer")[0]
    assert article.visibility == "public" and article.sender_type == "agent"
    events = [(h.event, h.actor) for h in _rows(web, History)]
    assert any(actor == "alice@example.com" for _, actor in events)


def test_note_stays_internal(web: Web) -> None:
    number = web.ticket()
    alice = web.sign_in("alice@example.com")
    assert _act(web, alice, number, text="call them", mode="note").status_code == 303
    assert _rows(web, OutboxMail, kind="answer") == []
    note = _rows(web, Article, kind="note")[0]
    assert note.visibility == "internal" and note.body == "call them"


def test_each_command_form_runs_the_engine(web: Web) -> None:
    number = web.ticket()
    alice = web.sign_in("alice@example.com")
    assert _act(web, alice, number, command="priority", argument="5").status_code == 303
    assert _act(web, alice, number, command="close").status_code == 303
    ticket = web.desk.show(number)
    assert ticket["state"] == "closed successful" and ticket["priority"] == 5
    events = {h["event"] for h in ticket["history"] if h["actor"] == "alice@example.com"}
    assert {"priority", "state"} <= events


def test_all_or_none(web: Web) -> None:
    number = web.ticket()
    alice = web.sign_in("alice@example.com")
    answer = _act(web, alice, number, text="done", commands="/close\n/move Nowhere",
                  mode="reply")
    assert answer.status_code == 422
    assert "Nothing was applied" in answer.text and "Nowhere" in answer.text
    assert web.desk.show(number)["state"] == "new"
    assert _rows(web, OutboxMail, kind="answer") == []


def test_permissions_are_the_mail_permissions(web: Web) -> None:
    number = web.ticket(subject="an invoice", to="billing@example.com")
    bob = web.sign_in("bob@example.com")  # Billing: no owner permission
    answer = _act(web, bob, number, command="assign", argument="bob@example.com")
    assert answer.status_code == 422 and "owner" in answer.text
    assert web.desk.show(number)["owner"] is None


def test_a_lock_holds_against_other_agents(web: Web) -> None:
    number = web.ticket(subject="an invoice", to="billing@example.com")
    alice = web.sign_in("alice@example.com")
    assert _act(web, alice, number, command="lock").status_code == 303
    bob = web.sign_in("bob@example.com", client=web.browser())
    answer = _act(web, bob, number, command="close")
    assert answer.status_code == 422 and "locked" in answer.text
    assert web.desk.show(number)["state"] != "closed successful"


def test_forms_need_csrf_and_post(web: Web) -> None:
    number = web.ticket()
    alice = web.sign_in("alice@example.com")
    assert alice.post(f"/tickets/{number}/act", data={"command": "close"}).status_code == 403
    assert alice.get(f"/tickets/{number}/act").status_code == 405
    assert web.desk.show(number)["state"] == "new"


def test_unknown_command_and_empty_form_are_refused(web: Web) -> None:
    number = web.ticket()
    alice = web.sign_in("alice@example.com")
    assert _act(web, alice, number, command="rm").status_code == 422
    assert _act(web, alice, number, text="", mode="reply").status_code == 422
    assert _act(web, alice, number, commands="close", mode="reply").status_code == 422
