"""Auto-responses and notifications, end to end: a mail goes in through the real pipeline,
the sender hands the outbox to a real SMTP sink, and the test reads what the sink got."""

from __future__ import annotations

import json
from email.utils import getaddresses, parseaddr

import pytest
from sqlalchemy import select

from maildesk.commands import LineResult
from maildesk.events import TicketEvent
from maildesk.outbound.verp import verp_signature
from maildesk.store.models import Customer, MessageIdRow, OutboxMail, Ticket
from maildesk.tokens import find_token, verify_token
from tests.conftest import Desk, simple_mail
from tests.outbound.conftest import Sink, send


def _ticket(desk: Desk, number: str) -> Ticket:
    app = desk.app()
    try:
        with app.db.reading() as s:
            return s.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
    finally:
        app.close()


def _history(desk: Desk, number: str) -> list[tuple[str, dict]]:
    return [(h["event"], h["details"]) for h in desk.show(number)["history"]]


def test_new_ticket_autoresponse_headers_and_threading(odesk: Desk, sink: Sink) -> None:
    raw = simple_mail(message_id="carol-1@example.org",
                      headers={"References": "<older@example.org>"})
    number = odesk.ingest(raw).ticket
    assert number
    assert send(odesk) == 2  # the auto-response and alice's notification
    [reply] = sink.to("carol@example.org")
    msg = reply.message
    assert parseaddr(msg["From"]) == ("Example Support", "support@example.com")
    assert getaddresses([msg["To"]]) == [("Carol Customer", "carol@example.org")]
    assert msg["Subject"] == f"[Ticket#{number}] Printer on fire"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["X-Loop"] == "example.com"
    assert msg["Precedence"] is None
    assert msg["In-Reply-To"] == "<carol-1@example.org>"
    assert msg["References"].split() == ["<older@example.org>", "<carol-1@example.org>"]
    mid = msg["Message-ID"].strip("<>")
    assert mid.endswith("@example.com")
    assert reply.rcpt_tos == ["carol@example.org"]
    # envelope sender: the VERP address of this very outbox row
    app = odesk.app()
    with app.db.reading() as s:
        row = s.execute(select(OutboxMail).where(OutboxMail.kind == "autoreply")).scalar_one()
        signature = verp_signature(app.secret, row.id)  # signed: outbound/verp.py
        assert reply.mail_from == f"bounces+{row.id}-{signature}@example.com"
        assert row.state == "sent" and row.attempts == 1 and row.message_id == mid
        index = s.execute(select(MessageIdRow).where(MessageIdRow.message_id == mid)).scalar_one()
        assert index.direction == "out" and index.outbox_id == row.id
        ticket = s.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        assert ticket.first_response_at is None  # an auto-response is no response
    app.close()
    history = _history(odesk, number)
    sent = [d for e, d in history if e == "auto-response sent"]
    assert sent and sent[0]["to"] == "carol@example.org" and sent[0]["state"] == "queued"
    # the customer's reply to the auto-response threads into the same ticket
    answer = simple_mail(subject=f"Re: [Ticket#{number}] Printer on fire",
                         headers={"In-Reply-To": f"<{mid}>"})
    assert odesk.ingest(answer).ticket == number


def test_body_names_the_ticket_and_subject_tag_is_not_doubled(odesk: Desk, sink: Sink) -> None:
    first = odesk.ingest(simple_mail()).ticket
    # a stranger quoting an existing tag gets a new ticket: one tag only, the new one
    number = odesk.ingest(simple_mail(subject=f"RE: AW: [Ticket#{first}] Re: Printer",
                                      sender="dave@example.net"),
                          sender="dave@example.net").ticket
    assert number != first
    send(odesk)
    [msg] = [r.message for r in sink.to("dave@example.net")]
    assert msg["Subject"] == f"[Ticket#{number}] Printer"
    body = msg.get_content()
    assert number in body and f"[Ticket#{number}]" in body


def test_notification_to_queue_agents(odesk: Desk, sink: Sink) -> None:
    raw = simple_mail(message_id="carol-2@example.org").replace(
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello,",
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello,")
    raw += (b"\r\n--XX\r\nContent-Type: application/pdf\r\n"
            b"Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--XX--\r\n")
    number = odesk.ingest(raw).ticket
    send(odesk)
    # Support's agents: alice (support group); bob only reads Billing
    assert sink.to("bob@example.com") == []
    [note] = sink.to("alice@example.com")
    msg = note.message
    assert parseaddr(msg["From"]) == ("Carol Customer via Example Support",
                                      "support@example.com")
    assert msg["Subject"] == f"[Ticket#{number}] Printer on fire"
    assert msg["Auto-Submitted"] == "auto-generated"
    reply_to = parseaddr(msg["Reply-To"])[1]
    local, _, domain = reply_to.partition("@")
    assert domain == "example.com" and local.startswith("support+")
    token = local.split("+", 1)[1]
    app = odesk.app()
    ref = verify_token(app.secret, token, ["alice@example.com", "bob@example.com"])
    app.close()
    assert ref is not None and ref.agent == "alice@example.com"
    assert "alice" not in token  # unguessable, names no agent
    assert find_token(msg["Message-ID"]) == token  # survives servers that drop sub-addresses
    assert msg["In-Reply-To"] == "<carol-2@example.org>"
    body = msg.get_content()
    assert "the printer is on fire" in body
    assert "invoice.pdf" in body
    for command in ("/lock", "/unlock", "/move", "/priority", "/close", "/reopen", "/pending",
                    "/assign", "/note", "/tag", "/cc", "/merge"):
        assert command in body
    assert [e for e, _ in _history(odesk, number)].count("notification sent") == 1
    # the agent's reply to the notification threads into the ticket
    reply = simple_mail(subject="Re: x", sender="alice@example.com",
                        headers={"In-Reply-To": msg["Message-ID"]})
    assert odesk.ingest(reply, sender="alice@example.com").ticket == number


def _emit(desk: Desk, number: str, kind: str, actor: str = "system", **details: object) -> None:
    """Run respond() for a synthetic event, the way commands will, in one transaction."""
    from maildesk.outbound.dispatch import dispatch

    app = desk.app()
    try:
        with app.db.transaction() as s:
            ticket = s.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
            if kind == "moved":
                ticket.queue = "Billing"
            dispatch(s, app.config, app.secret,
                     [TicketEvent(kind=kind, ticket=ticket, actor=actor, details=dict(details))])
    finally:
        app.close()


def test_moved_notifies_the_new_queue_but_not_the_mover(odesk: Desk, sink: Sink) -> None:
    number = odesk.ingest(simple_mail()).ticket
    send(odesk)
    sink.received.clear()
    _emit(odesk, number, "moved", actor="alice@example.com", old="Support")
    send(odesk)
    # Billing's readers are alice and bob; alice moved it, so only bob hears
    assert [r.rcpt_tos for r in sink.received] == [["bob@example.com"]]
    msg = sink.received[0].message
    assert "moved from Support into Billing" in msg.get_content()
    assert "the printer is on fire" in msg.get_content()


def test_followup_goes_to_the_owner_of_a_locked_ticket(odesk: Desk, sink: Sink) -> None:
    number = odesk.ingest(simple_mail(message_id="c-3@example.org")).ticket
    app = odesk.app()
    with app.db.transaction() as s:
        ticket = s.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        ticket.queue, ticket.owner, ticket.locked = "Billing", "bob@example.com", True
    app.close()
    send(odesk)
    sink.received.clear()
    odesk.ingest(simple_mail(subject="more", headers={"In-Reply-To": "<c-3@example.org>"}))
    send(odesk)
    assert [r.rcpt_tos for r in sink.received] == [["bob@example.com"]]  # not alice
    # unlocked: back to the queue's agents (and no follow-up auto-response by default)
    with app.db.transaction() as s:
        s.execute(select(Ticket).where(Ticket.number == number)).scalar_one().locked = False
    app.close()
    sink.received.clear()
    odesk.ingest(simple_mail(subject="again", headers={"In-Reply-To": "<c-3@example.org>"}))
    send(odesk)
    assert sorted(r.rcpt_tos[0] for r in sink.received) == ["alice@example.com",
                                                            "bob@example.com"]


def test_language_of_the_customer_then_queue_then_english(odesk_factory, sink: Sink) -> None:  # noqa: ANN001
    desk = odesk_factory(sink.port)
    text = desk.config_path.read_text().replace(
        "    display_name: Example Billing\n",
        "    display_name: Example Billing\n    language: es\n")
    desk.config_path.write_text(text)
    app = desk.app()
    with app.db.transaction() as s:
        s.add(Customer(address="hans@example.de", language="de"))
        s.add(Customer(address="jean@example.fr", language="fr"))
    app.close()
    desk.ingest(simple_mail(sender="hans@example.de"), sender="hans@example.de")
    desk.ingest(simple_mail(subject="invoice", sender="ana@example.es"), sender="ana@example.es")
    desk.ingest(simple_mail(sender="jean@example.fr"), sender="jean@example.fr")
    send(desk)
    assert "Ticket" in sink.to("hans@example.de")[0].message.get_content()
    assert "vielen Dank" in sink.to("hans@example.de")[0].message.get_content()
    assert "Gracias" in sink.to("ana@example.es")[0].message.get_content()
    assert "thank you" in sink.to("jean@example.fr")[0].message.get_content()  # no fr: en


def test_template_override_folder(odesk_factory, sink: Sink) -> None:  # noqa: ANN001
    desk = odesk_factory(sink.port, extra="templates: ./brand\n")
    folder = desk.root / "brand" / "en" / "customer"
    folder.mkdir(parents=True)
    (folder / "autoresponse_new.txt").write_text("ACME got {{ tag }}: {{ subject }}\n")
    number = desk.ingest(simple_mail()).ticket
    send(desk)
    body = sink.to("carol@example.org")[0].message.get_content()
    assert body.strip() == f"ACME got [Ticket#{number}]: Printer on fire"
    # the notification still comes from the shipped templates
    assert "/merge" in sink.to("alice@example.com")[0].message.get_content()


@pytest.mark.outbound_failure
def test_broken_template_costs_the_mail_not_the_ticket(odesk_factory, sink: Sink,  # noqa: ANN001
                                                        caplog: pytest.LogCaptureFixture) -> None:
    desk = odesk_factory(sink.port, extra="templates: ./brand\n")
    folder = desk.root / "brand" / "en" / "customer"
    folder.mkdir(parents=True)
    (folder / "autoresponse_new.txt").write_text("{% if %}broken\n")
    outcome = desk.ingest(simple_mail())
    assert outcome.code == 250 and outcome.ticket
    events = [e for e, _ in _history(desk, outcome.ticket)]
    assert "auto-response failed" in events and "notification sent" in events
    # issue 11: an admin sees it in the log at ERROR and in `maildesk outbox --json`
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors and "auto-response to carol@example.org failed" in errors[0].getMessage()
    rows = json.loads(desk.cli("outbox", "--json", "--state", "failed").stdout)
    [row] = rows
    assert row["kind"] == "autoreply" and row["to"] == "carol@example.org"
    assert row["ticket"] == outcome.ticket and row["attempts"] == 0
    assert row["last_error"].startswith("not built: TemplateSyntaxError")
    assert send(desk) == 1  # the notification; the failed row is never sent


@pytest.mark.outbound_failure
def test_a_broken_template_does_not_spend_the_daily_cap(odesk_factory, sink: Sink) -> None:  # noqa: ANN001
    desk = odesk_factory(sink.port, extra="templates: ./brand\n",
                         instance="  autoresponse_daily_cap: 1\n")
    folder = desk.root / "brand" / "en" / "customer"
    folder.mkdir(parents=True)
    broken = folder / "autoresponse_new.txt"
    broken.write_text("{% if %}broken\n")
    first = desk.ingest(simple_mail(message_id="cap-1@example.org"))
    assert "auto-response failed" in [e for e, _ in _history(desk, first.ticket)]
    broken.unlink()  # the admin repairs it: carol's one answer of the day is still there
    second = desk.ingest(simple_mail(message_id="cap-2@example.org", subject="Still on fire"))
    assert second.ticket != first.ticket
    assert "auto-response sent" in [e for e, _ in _history(desk, second.ticket)]


def test_queue_answer_and_result_helpers(odesk: Desk, sink: Sink) -> None:
    from maildesk.events import AnswerQueued, CommandsProcessed
    from maildesk.outbound.dispatch import dispatch

    number = odesk.ingest(simple_mail(message_id="c-9@example.org")).ticket
    send(odesk)
    sink.received.clear()
    app = odesk.app()
    with app.db.transaction() as s:
        ticket = s.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        ticket.cc = ["erin@example.org"]
        dispatch(s, app.config, app.secret, [
            AnswerQueued(ticket, "Please unplug it.", "alice@example.com"),
            CommandsProcessed(ticket, "alice@example.com", "Re: x",
                              [LineResult("/close", True, "closed")], None, False,
                              "alice-7@example.com"),
        ])
    with app.db.reading() as s:
        ticket = s.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        assert ticket.first_response_at is not None
    app.close()
    send(odesk)
    answers = sink.to("carol@example.org")
    assert len(answers) == 1 and sink.to("erin@example.org")[0].data == answers[0].data
    msg = answers[0].message
    assert parseaddr(msg["From"]) == ("Example Support", "support@example.com")
    assert msg["Subject"] == f"Re: [Ticket#{number}] Printer on fire"
    assert msg["In-Reply-To"] == "<c-9@example.org>"
    assert msg["Auto-Submitted"] is None
    assert "Please unplug it." in msg.get_content()
    assert "alice@example.com" not in msg.as_string()
    [result] = sink.to("alice@example.com")
    assert result.message["Auto-Submitted"] == "auto-generated"
    assert result.message["In-Reply-To"] == "<alice-7@example.com>"
    assert result.message["Subject"] == "Processed: Re: x"
    assert result.message.get_content().replace("\r\n", "\n") == "> /close\nclosed\n\nAll done.\n"


def test_outbox_rows_for_the_cli(odesk: Desk, sink: Sink) -> None:
    from maildesk.outbound.outbox import outbox_rows

    number = odesk.ingest(simple_mail()).ticket
    app = odesk.app()
    with app.db.reading() as s:
        queued = outbox_rows(s, "queued")
    send(odesk)
    with app.db.reading() as s:
        rows = outbox_rows(s, None)
        assert outbox_rows(s, "queued") == []
    app.close()
    assert len(queued) == 2 and {r["kind"] for r in queued} == {"autoreply", "notification"}
    for row in rows:
        assert {"id", "ticket", "to", "subject", "message_id", "kind", "state", "attempts",
                "last_error", "created_at", "sent_at", "next_attempt_at"} <= row.keys()
        assert row["ticket"] == number and row["state"] == "sent"
        assert str(row["sent_at"]).endswith("Z")
    # the same rows through the real CLI (SPEC 11)
    result = odesk.cli("outbox", "--state", "sent", "--json")
    assert result.returncode == 0, result.stderr.decode()
    assert [r["id"] for r in json.loads(result.stdout)] == [r["id"] for r in rows]
