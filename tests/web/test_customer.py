"""Customers' pages: their own tickets only, a reply, a new ticket with attachments."""

from __future__ import annotations

from sqlalchemy import select

from maildesk.store.models import OutboxMail
from tests.web.conftest import Web


def test_customer_sees_only_their_own_tickets(web: Web) -> None:
    mine = web.ticket(subject="carol's printer", sender="carol@example.org")
    other = web.ticket(subject="dave's secret", sender="dave@example.org")
    carol = web.sign_in("carol@example.org", kind="customer")
    home = carol.get("/")
    assert "carol&#39;s printer" in home.text and "dave" not in home.text
    assert carol.get(f"/tickets/{mine}").status_code == 200
    page = carol.get(f"/tickets/{other}")
    assert page.status_code == 404 and "secret" not in page.text
    with web.app.db.reading() as session:
        from maildesk.store.models import Article

        article_id = session.execute(select(Article.id).join(Article.ticket).where(
            Article.subject.contains("dave"))).scalar()
    assert carol.get(f"/tickets/{other}/articles/{article_id}/html").status_code == 404
    csrf = web.csrf(carol, "/")
    answer = carol.post(f"/tickets/{other}/reply", data={"csrf": csrf, "body": "me too"})
    assert answer.status_code == 404
    assert len(web.desk.show(other)["articles"]) == 1


def test_customer_does_not_see_internal_notes(web: Web) -> None:
    number = web.ticket(sender="carol@example.org")
    alice = web.sign_in("alice@example.com")
    csrf = web.csrf(alice, f"/tickets/{number}")
    alice.post(f"/tickets/{number}/act", data={"csrf": csrf, "text": "internal thoughts",
                                               "mode": "note"})
    carol = web.sign_in("carol@example.org", kind="customer", client=web.browser())
    page = carol.get(f"/tickets/{number}").text
    assert "internal thoughts" not in page and "History" not in page


def test_customer_reply_is_a_follow_up(web: Web) -> None:
    number = web.ticket(sender="carol@example.org")
    carol = web.sign_in("carol@example.org", kind="customer")
    csrf = web.csrf(carol, f"/tickets/{number}")
    answer = carol.post(f"/tickets/{number}/reply", data={"csrf": csrf, "body": "More info"},
                        files={"files": ("log.txt", b"line 1\n", "text/plain")})
    assert answer.status_code == 303, answer.text
    ticket = web.desk.show(number)
    last = ticket["articles"][-1]
    assert last["sender_type"] == "customer" and "More info" in last["body"]
    assert [a["filename"] for a in last["attachments"]] == ["log.txt"]
    # The queue's agents are told, as for a follow-up by mail.
    with web.app.db.reading() as session:
        kinds = {r.kind for r in session.execute(select(OutboxMail)).scalars()}
    assert "notification" in kinds


def test_new_ticket_with_attachment_gets_the_auto_response(web: Web) -> None:
    web.ticket(sender="carol@example.org")
    carol = web.sign_in("carol@example.org", kind="customer")
    csrf = web.csrf(carol, "/tickets/new")
    answer = carol.post("/tickets/new", data={"csrf": csrf, "subject": "New printer",
                                              "body": "Please help"},
                        files={"files": ("photo.jpg", b"\xff\xd8\xff", "image/jpeg")})
    assert answer.status_code == 303, answer.text
    number = answer.headers["location"].split("/")[-1].split("?")[0]
    ticket = web.desk.show(number)
    assert ticket["customer"] == "carol@example.org" and ticket["title"] == "New printer"
    assert ticket["articles"][0]["attachments"][0]["filename"] == "photo.jpg"
    with web.app.db.reading() as session:
        to = list(session.execute(select(OutboxMail.to_addr).where(
            OutboxMail.kind == "autoreply")).scalars())
    assert "carol@example.org" in to


def test_the_customer_field_cannot_be_forged(web: Web) -> None:
    web.ticket(sender="carol@example.org")
    carol = web.sign_in("carol@example.org", kind="customer")
    csrf = web.csrf(carol, "/tickets/new")
    answer = carol.post("/tickets/new", data={"csrf": csrf, "subject": "x", "body": "y",
                                              "customer": "dave@example.org"})
    number = answer.headers["location"].split("/")[-1].split("?")[0]
    assert web.desk.show(number)["customer"] == "carol@example.org"


def test_agents_pages_are_not_for_customers(web: Web) -> None:
    carol = web.sign_in("carol@example.org", kind="customer")
    assert carol.get("/tickets/new").status_code == 200
    alice = web.sign_in("alice@example.com", client=web.browser())
    assert alice.get("/tickets/new").status_code == 403
