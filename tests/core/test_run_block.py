"""The core's command engine called directly, as the web and the API call it: each kind of
actor, its permissions, the lock, all or none, and the text step."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from maildesk.core.actors import ANY_QUEUE, Actor
from maildesk.core.commands import TEXT_LINE, BlockResult, run_block
from maildesk.http.tokens import Caller
from maildesk.store.models import Article, OutboxMail, Ticket
from tests.conftest import Desk, make_desk, simple_mail


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return make_desk(tmp_path / "desk")


def _ticket(desk: Desk, subject: str = "Printer on fire") -> str:
    outcome = desk.ingest(simple_mail(subject=subject))
    assert outcome.ticket
    return str(outcome.ticket)


def block(desk: Desk, number: str, actor: Actor, lines: list[str],
          text: str = "") -> BlockResult:
    app = desk.app()
    try:
        def attempt(session):  # type: ignore[no-untyped-def]
            ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
            return run_block(session, app, actor, ticket, lines, text=text)

        return app.db.run(attempt)
    finally:
        app.close()


def test_agent_from_the_web_runs_a_block_with_config_permissions(desk: Desk) -> None:
    number = _ticket(desk)
    result = block(desk, number, Actor(kind="agent", address="alice@example.com", via="web"),
                   ["/priority 1", "/tag +vip"])
    assert result.applied and [r.ok for r in result.lines] == [True, True]
    shown = desk.show(number)
    assert shown["priority"] == 1 and "vip" in shown["tags"]
    changed = [h for h in shown["history"] if h["event"] == "priority"][-1]
    assert changed["actor"] == "alice@example.com" and changed["details"]["via"] == "web"


def test_all_or_none_with_every_line_reported(desk: Desk) -> None:
    number = _ticket(desk)
    result = block(desk, number, Actor.agent("alice@example.com", via="web"),
                   ["/priority 1", "/frobnicate", "/close"])
    assert not result.applied
    assert [r.ok for r in result.lines] == [True, False, True]
    assert "unknown command /frobnicate" in result.failed[0].text
    shown = desk.show(number)
    assert shown["priority"] == 3 and not shown["state"].startswith("closed")


def test_permissions_are_per_queue(desk: Desk) -> None:
    number = _ticket(desk)  # Support: bob (billing only) has no permission there
    result = block(desk, number, Actor.agent("bob@example.com", via="web"), ["/close"])
    assert not result.applied
    assert "you do not have the 'close' permission in queue Support" in result.lines[0].text
    unknown = block(desk, number, Actor.agent("mallory@example.com", via="web"), ["/close"])
    assert not unknown.applied


def test_the_lock_holds_for_every_entrance(desk: Desk) -> None:
    number = _ticket(desk)
    assert block(desk, number, Actor.agent("alice@example.com"), ["/lock"]).applied
    caller = Caller(1, "crm", "write", (), None)
    result = block(desk, number, Actor.token(caller), ["/priority 2"])
    assert not result.applied and "locked by alice@example.com" in result.lines[0].text


def test_token_grants_follow_scope_and_queues() -> None:
    reader = Actor.token(Caller(1, "r", "read", (), None))
    assert reader.grants == {ANY_QUEUE: frozenset()}
    billing = Actor.token(Caller(2, "b", "write", ("Billing",), None))
    assert billing.grants is not None and "close" in billing.grants["Billing"]
    assert billing.address == "api:b" and billing.via == "http"


def test_agent_answer_as_text_is_mailed_and_stored(desk: Desk) -> None:
    number = _ticket(desk)
    result = block(desk, number, Actor.agent("alice@example.com", via="web"), ["/close"],
                   text="It is out now.")
    assert result.applied and result.text is not None and result.text.ok
    assert result.text.line == TEXT_LINE
    shown = desk.show(number)
    assert shown["state"].startswith("closed")
    answers = [a for a in shown["articles"] if a["kind"] == "answer"]
    assert answers and answers[-1]["visibility"] == "public"
    app = desk.app()
    try:
        with app.db.reading() as session:
            kinds = list(session.execute(select(OutboxMail.kind)).scalars())
    finally:
        app.close()
    assert "answer" in kinds


def test_note_after_slash_note_stays_internal(desk: Desk) -> None:
    number = _ticket(desk)
    result = block(desk, number, Actor.agent("alice@example.com", via="web"), ["/note"],
                   text="Called them.")
    assert result.applied and result.note
    articles = desk.show(number)["articles"]
    assert articles[-1]["kind"] == "note" and articles[-1]["visibility"] == "internal"


def test_customer_writes_to_their_own_ticket_only(desk: Desk) -> None:
    number = _ticket(desk)
    other = block(desk, number, Actor.customer("eve@example.org"), [], text="Let me in")
    assert not other.applied and other.text is not None
    assert "not yours" in other.text.text
    mine = block(desk, number, Actor.customer("carol@example.org"), [], text="Still burning")
    assert mine.applied
    app = desk.app()
    try:
        with app.db.reading() as session:
            last = session.execute(select(Article).order_by(Article.id.desc())).scalars().first()
            assert last is not None and last.sender_type == "customer"
            assert last.body == "Still burning"
    finally:
        app.close()
    refused = block(desk, number, Actor.customer("carol@example.org"), ["/close"])
    assert not refused.applied and "'close' permission" in refused.lines[0].text


def test_system_actor_may_do_everything(desk: Desk) -> None:
    number = _ticket(desk)
    result = block(desk, number, Actor.system(), ["/close"])
    assert result.applied
    shown = desk.show(number)
    state = [h for h in shown["history"] if h["event"] == "state"][-1]
    assert state["actor"] == "system" and state["details"]["via"] == "timer"
