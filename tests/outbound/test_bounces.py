"""Bounces and vacation replies (the repository's fixtures, so they run everywhere), pointed
at mail we really sent: recorded on the ticket, never a new ticket, never answered, never
reopening. The corpus-wide sweeps are in tests/test_classify.py."""

from __future__ import annotations

from sqlalchemy import func, select, update

from maildesk.store.models import OutboxMail, Ticket
from tests.conftest import FIXTURES, Desk, simple_mail
from tests.outbound.conftest import Sink, send

DSN = (FIXTURES / "dsn_bounce_verp.eml").read_bytes()
DSN_RETURNED_ID = b"maildesk.2026112510000012.1764068401.e0c7a5@example.com"
VACATION = (FIXTURES / "vacation_autoreply.eml").read_bytes()
VACATION_PARENT = b"maildesk.2026112510000012.1764065100.c41d09@example.com"


def _sent_autoresponse(desk: Desk, sink: Sink) -> tuple[str, int, str]:
    """A ticket whose auto-response went out: (number, outbox id, Message-ID)."""
    number = desk.ingest(simple_mail(message_id="carol-b@example.org")).ticket
    send(desk)
    app = desk.app()
    with app.db.reading() as s:
        row = s.execute(select(OutboxMail).where(OutboxMail.kind == "autoreply")).scalar_one()
        result = (number, row.id, row.message_id)
    app.close()
    assert sink.to("carol@example.org")
    return result


def _verp(sink: Sink, outbox_id: int) -> str:
    """The envelope sender the relay saw for that row: the signed VERP address."""
    [auto] = sink.to("carol@example.org")
    assert auto.mail_from.startswith(f"bounces+{outbox_id}-")
    return auto.mail_from


def test_a_bounce_to_an_unsigned_verp_address_reaches_no_ticket(odesk: Desk,
                                                                sink: Sink) -> None:
    """Anyone can write to bounces+N@: without the HMAC the id means nothing."""
    number, outbox_id, _ = _sent_autoresponse(odesk, sink)
    raw = simple_mail(subject="Undelivered Mail Returned to Sender", sender="mailer-daemon@x.org")
    for forged in (f"bounces+{outbox_id}@example.com", f"bounces+{outbox_id}-aaaaaaaa@example.com"):
        outcome = odesk.ingest(raw + forged.encode(), sender="", recipients=(forged,))
        assert outcome.code == 250 and outcome.result == "unmatched_bounce", outcome
    assert not [h for h in odesk.show(number)["history"] if h["event"] == "bounce"]


def _counts(desk: Desk) -> tuple[int, int]:
    app = desk.app()
    with app.db.reading() as s:
        tickets = s.execute(select(func.count(Ticket.id))).scalar_one()
        outbox = s.execute(select(func.count(OutboxMail.id))).scalar_one()
    app.close()
    return tickets, outbox


def test_dsn_to_the_verp_address_is_recorded_on_the_ticket(odesk: Desk, sink: Sink) -> None:
    number, outbox_id, _ = _sent_autoresponse(odesk, sink)
    before = _counts(odesk)
    outcome = odesk.ingest(DSN, sender="", recipients=(_verp(sink, outbox_id),))
    assert outcome.code == 250 and outcome.ticket == number, outcome.reply
    assert _counts(odesk) == before  # no new ticket, nothing queued (no auto-response)
    data = odesk.show(number)
    bounce = [h for h in data["history"] if h["event"] == "bounce"]
    assert bounce and bounce[0]["details"]["status"] == "5.1.1"
    assert data["state"] == "new"
    send(odesk)
    assert len(sink.received) == 2  # still just the auto-response and the notification


def test_dsn_naming_our_message_id_is_matched(odesk: Desk, sink: Sink) -> None:
    number, _, message_id = _sent_autoresponse(odesk, sink)
    before = _counts(odesk)
    raw = DSN.replace(DSN_RETURNED_ID, message_id.encode())
    # to the plain bounce address: no VERP id, so only the returned Message-ID can match
    outcome = odesk.ingest(raw, sender="", recipients=("bounces@example.com",))
    assert outcome.ticket == number, outcome.reply
    assert _counts(odesk) == before
    bounce = [h for h in odesk.show(number)["history"] if h["event"] == "bounce"]
    assert bounce[0]["details"]["status"] == "5.1.1"
    assert bounce[0]["details"]["recipients"] == ["nobody@example.org"]


def test_dsn_matching_nothing_makes_no_ticket(odesk: Desk, sink: Sink) -> None:
    outcome = odesk.ingest(DSN, sender="", recipients=("support@example.com",))
    assert outcome.code == 250 and outcome.ticket is None and outcome.result == "unmatched_bounce"
    assert _counts(odesk) == (0, 0)


def test_vacation_reply_joins_without_reopening_or_answer(odesk: Desk, sink: Sink) -> None:
    number, _, message_id = _sent_autoresponse(odesk, sink)
    app = odesk.app()
    with app.db.transaction() as s:
        s.execute(update(Ticket).where(Ticket.number == number)
                  .values(state="closed successful"))
    app.close()
    before = _counts(odesk)
    # the vacation reply answers our auto-response, as a real one would
    raw = VACATION.replace(VACATION_PARENT, message_id.encode())
    outcome = odesk.ingest(raw, sender="hans.mueller@example.net")
    assert outcome.code == 250 and outcome.ticket == number, outcome.reply
    assert _counts(odesk) == before  # no ticket, no auto-response, no notification queued
    data = odesk.show(number)
    assert data["state"] == "closed successful"
    assert len(data["articles"]) == 2


def test_exchange_out_of_office_to_the_verp_address(odesk: Desk, sink: Sink) -> None:
    """RFC 3834 responders answer the return path: our VERP address. That is kept on the
    ticket as well, never a ticket of its own."""
    number, outbox_id, _ = _sent_autoresponse(odesk, sink)
    before = _counts(odesk)
    outcome = odesk.ingest(VACATION, sender="", recipients=(_verp(sink, outbox_id),))
    assert outcome.ticket == number, outcome.reply
    assert _counts(odesk) == before
