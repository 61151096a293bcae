"""Customers through the running daemon: a mail over SMTP and a ticket over the HTTP API
each make their customer row and link to it; the customer's language picks the
auto-response's (read at a real relay)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from maildesk.store.models import Customer, Ticket
from tests.conftest import Desk, simple_mail
from tests.db.serving import send, wait_for
from tests.http.conftest import serve_api
from tests.outbound.conftest import Sink, outbound_desk
from tests.outbound.conftest import send as send_outbox


@pytest.fixture
def relay() -> Iterator[Sink]:
    sink = Sink().start()
    yield sink
    sink.stop()


def _customers(desk: Desk) -> dict[str, dict]:
    import json

    result = desk.cli("customers", "--json")
    assert result.returncode == 0, result.stderr.decode()
    return {c["address"]: c for c in json.loads(result.stdout)}


def test_smtp_and_http_api_tickets_link_their_customers(tmp_path: Path, relay: Sink) -> None:
    desk = outbound_desk(tmp_path / "desk", relay.port)
    api = serve_api(desk, relay_port=relay.port)
    try:
        raw = simple_mail(subject="over smtp", sender="hal@example.org").replace(
            b"Carol Customer", b"Hal Hurst")
        assert send(api.smtp_port, raw, "hal@example.org") == 250
        token = api.token("crm", "--scope", "write")
        r = api.client.post("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"},
                            json={"customer": "Ivy@Example.org", "subject": "over http",
                                  "body": "Hello, please call me back."})
        assert r.status_code == 201, r.text
        assert r.json()["customer"] == "ivy@example.org"
        assert r.json()["customer_name"] is None  # no display name over HTTP
        wait_for(lambda: any(t["title"] == "over smtp" for t in desk.tickets()), 60,
                 "the SMTP ticket")
        customers = _customers(desk)
        assert customers["hal@example.org"]["name"] == "Hal Hurst"
        assert "ivy@example.org" in customers
        [smtp_ticket] = [t for t in desk.tickets() if t["title"] == "over smtp"]
        assert desk.show(smtp_ticket["number"])["customer_name"] == "Hal Hurst"
        app = desk.app()
        try:
            with app.db.reading() as s:
                links = dict(s.execute(select(Ticket.customer, Ticket.customer_id)).all())
                ids = dict(s.execute(select(Customer.address, Customer.id)).all())
        finally:
            app.close()
        assert links == {"hal@example.org": ids["hal@example.org"],
                         "ivy@example.org": ids["ivy@example.org"]}
    finally:
        api.client.close()
        api.served.stop()


def test_the_customers_language_picks_the_autoresponse(tmp_path: Path, relay: Sink) -> None:
    desk = outbound_desk(tmp_path / "desk", relay.port)
    csv_path = tmp_path / "c.csv"
    csv_path.write_text("address,name,company,language\nhans@example.de,Hans,,de\n")
    assert desk.cli("customers", "import", str(csv_path)).returncode == 0
    # Support's language is English; Hans's own (imported) wins.
    desk.ingest(simple_mail(sender="hans@example.de"), sender="hans@example.de")
    # A new customer: Content-Language says German, in a queue that is English.
    desk.ingest(simple_mail(sender="kai@example.de", headers={"Content-Language": "de"}),
                sender="kai@example.de")
    # A new customer in Billing (no language): the Spanish text is guessed.
    spanish = ("Hola, tengo un problema con el pago de este mes y no puedo entrar. "
               "¿Me pueden ayudar por favor? Muchas gracias por todo.\n")
    desk.ingest(simple_mail(subject="invoice", sender="lia@example.es", body=spanish),
                sender="lia@example.es")
    # A new customer writing English to English Support: English.
    desk.ingest(simple_mail(sender="max@example.org"), sender="max@example.org")
    send_outbox(desk)
    assert "vielen Dank" in relay.to("hans@example.de")[0].message.get_content()
    assert "vielen Dank" in relay.to("kai@example.de")[0].message.get_content()
    assert "Gracias" in relay.to("lia@example.es")[0].message.get_content()
    assert "thank you" in relay.to("max@example.org")[0].message.get_content()
    assert _customers(desk)["kai@example.de"]["language"] == "de"
