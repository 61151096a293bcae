"""Mail to an internationalised address (issue 11): the domain always goes out as A-labels;
a UTF-8 local part goes out with SMTPUTF8 when the relay offers it (RFC 6531, the address
in the headers as UTF-8, RFC 6532), and otherwise fails at once, permanently, with a reason
that names SMTPUTF8, recorded on the ticket: never retried for days, never silent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from maildesk.store.models import OutboxMail
from tests.conftest import Desk, simple_mail
from tests.outbound.conftest import Sink, outbound_desk, send

CUSTOMER = "josé@bücher.example"
WIRE_FORM = "josé@xn--bcher-kva.example"


@pytest.fixture
def utf8_sink() -> Iterator[Sink]:
    relay = Sink(smtputf8=True).start()
    yield relay
    relay.stop()


def _ticket(desk: Desk) -> str:
    outcome = desk.ingest(simple_mail(sender=CUSTOMER), sender=CUSTOMER)
    assert outcome.code == 250 and outcome.ticket, outcome
    return outcome.ticket


def _auto(desk: Desk) -> OutboxMail:
    app = desk.app()
    try:
        with app.db.reading() as s:
            [row] = s.scalars(select(OutboxMail).where(OutboxMail.kind == "autoreply")).all()
            s.expunge(row)
            return row
    finally:
        app.close()


def test_smtputf8_when_the_relay_offers_it(tmp_path: Path, utf8_sink: Sink) -> None:
    desk = outbound_desk(tmp_path / "desk", utf8_sink.port)
    _ticket(desk)
    send(desk)
    [got] = utf8_sink.to(WIRE_FORM)
    assert "SMTPUTF8" in [o.upper() for o in got.mail_options]
    head = got.data.split(b"\r\n\r\n", 1)[0]
    assert f"To: Carol Customer <{WIRE_FORM}>".encode() in head  # UTF-8 (RFC 6532)
    assert _auto(desk).state == "sent"
    # mail to plain addresses stays plain
    [note] = utf8_sink.to("alice@example.com")
    assert "SMTPUTF8" not in [o.upper() for o in note.mail_options]


def test_a_clear_permanent_failure_without_smtputf8(tmp_path: Path, sink: Sink) -> None:
    desk = outbound_desk(tmp_path / "desk", sink.port)
    number = _ticket(desk)
    send(desk)
    assert sink.to(WIRE_FORM) == [] and sink.to("alice@example.com")
    row = _auto(desk)
    assert row.state == "failed" and row.attempts == 1
    assert "SMTPUTF8" in (row.last_error or "")
    [failed] = [h for h in desk.show(number)["history"] if h["event"] == "delivery failed"]
    assert failed["details"]["reason"] == "refused"
    assert "SMTPUTF8" in failed["details"]["error"]


def test_a_utf8_header_needs_smtputf8_for_every_recipient() -> None:
    """An answer's Cc row to a plain address carries the customer's UTF-8 To header."""
    from maildesk.outbound.sender import _utf8_options

    plain = b"From: a@example.com\r\nTo: b@example.com\r\n\r\nhi\r\n"
    utf8 = f"From: a@example.com\r\nTo: {WIRE_FORM}\r\n\r\nhi\r\n".encode()
    assert _utf8_options("a@example.com", ["b@example.com"], plain) == []
    assert _utf8_options("a@example.com", ["b@example.com"], utf8) == ["SMTPUTF8"]
    assert _utf8_options("a@example.com", [WIRE_FORM], plain) == ["SMTPUTF8"]
