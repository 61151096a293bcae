"""A first mail's sender becomes a customer and the ticket links to it (through `maildesk
deliver`, the pipeline's real entrance for an MTA); `show --json` names the customer;
`require_known_customer` asks the table, then a CRM; a CRM's record fills the new row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from maildesk.customers.directory import close_all
from maildesk.store.models import Customer, Ticket
from tests.conftest import Desk, simple_mail
from tests.customers.crm import COLUMNS, checksum, sqlite_crm

pytestmark = pytest.mark.backends()

REFUSED = 65  # deliver's exit code for a refused mail (EX_DATAERR; 67 is an unknown recipient)


@pytest.fixture(autouse=True)
def _close_backends() -> Iterator[None]:
    yield
    close_all()


def _rows(desk: Desk) -> list[tuple[str, str, str | None, str | None]]:
    app = desk.app()
    try:
        with app.db.reading() as s:
            return [(c.address, c.name, c.company, c.language) for c in s.execute(
                select(Customer).order_by(Customer.address)).scalars()]
    finally:
        app.close()


def _link(desk: Desk, number: str) -> tuple[int | None, int | None]:
    """(tickets.customer_id, the id of the row of the ticket's address)."""
    app = desk.app()
    try:
        with app.db.reading() as s:
            ticket = s.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
            row = s.execute(select(Customer.id).where(
                Customer.address == ticket.customer)).scalar()
            return ticket.customer_id, row
    finally:
        app.close()


def _number(desk: Desk, subject: str) -> str:
    [ticket] = [t for t in desk.tickets() if t["title"] == subject]
    return str(ticket["number"])


def test_first_mail_makes_the_customer_once_and_links_the_ticket(desk: Desk,
                                                                  tmp_path: Path) -> None:
    raw = simple_mail(subject="first", sender="Dora@Example.org",
                      headers={"Content-Language": "de-DE"},
                      body="Hallo,\nder Drucker brennt.\n").replace(
        b"Carol Customer", b"Dora  Diaz")
    assert desk.deliver(raw, sender="dora@example.org",
                        recipients=("billing@example.com",)) == 0
    assert _rows(desk) == [("dora@example.org", "Dora Diaz", None, "de")]
    number = _number(desk, "first")
    customer_id, row_id = _link(desk, number)
    assert customer_id is not None and customer_id == row_id
    shown = desk.show(number)
    assert (shown["customer_name"], shown["customer_company"]) == ("Dora Diaz", None)

    # A second first mail (a new ticket) finds the row: no second one, its values kept.
    raw = simple_mail(subject="second", sender="dora@example.org").replace(
        b"Carol Customer", b"Someone Else")
    assert desk.deliver(raw, sender="dora@example.org") == 0
    assert _rows(desk) == [("dora@example.org", "Dora Diaz", None, "de")]
    assert _link(desk, _number(desk, "second"))[0] == customer_id

    # An import sets the company; show says so.
    csv_path = tmp_path / "c.csv"
    csv_path.write_text("address,name,company,language\ndora@example.org,Dora Diaz,Acme,de\n")
    assert desk.cli("customers", "import", str(csv_path)).returncode == 0
    assert desk.show(number)["customer_company"] == "Acme"
    text = desk.cli("show", number).stdout.decode()
    assert "customer dora@example.org (Dora Diaz, Acme)" in text


def test_language_guessed_from_the_text_only_where_the_ticket_has_none(desk: Desk) -> None:
    spanish = ("Hola, tengo un problema con la factura de este mes y no puedo pagar. "
               "¿Me pueden ayudar por favor? Muchas gracias por todo.\n")
    # Billing has no language: the text's is the customer's.
    assert desk.deliver(simple_mail(subject="factura", sender="eva@example.es", body=spanish),
                        sender="eva@example.es", recipients=("billing@example.com",)) == 0
    # Support is in English (queue language): no guess, the customer's language stays unknown.
    assert desk.deliver(simple_mail(subject="pago", sender="fer@example.es", body=spanish),
                        sender="fer@example.es") == 0
    assert [(a, lang) for a, _, _, lang in _rows(desk)] == [
        ("eva@example.es", "es"), ("fer@example.es", None)]


def _require_known(desk: Desk, extra: str = "") -> None:
    text = desk.config_path.read_text().replace(
        "    address: sales@example.com\n",
        "    address: sales@example.com\n    require_known_customer: true\n")
    desk.config_path.write_text(text + extra)


def test_require_known_customer_asks_the_table(desk: Desk, tmp_path: Path) -> None:
    _require_known(desk)
    raw = simple_mail(subject="offer", sender="gus@example.org", to="sales@example.com")
    assert desk.deliver(raw, sender="gus@example.org",
                        recipients=("sales@example.com",)) == REFUSED
    assert _rows(desk) == []  # refused: nobody registered
    csv_path = tmp_path / "c.csv"
    csv_path.write_text("address,name,company,language\ngus@example.org,Gus,,en\n")
    assert desk.cli("customers", "import", str(csv_path)).returncode == 0
    assert desk.deliver(raw, sender="gus@example.org", recipients=("sales@example.com",)) == 0
    number = _number(desk, "offer")
    assert desk.show(number)["customer_name"] == "Gus"
    customer_id, row_id = _link(desk, number)
    assert customer_id == row_id  # the imported row, linked


def test_a_first_mail_to_an_open_queue_does_not_open_a_closed_one(desk: Desk,
                                                                  tmp_path: Path) -> None:
    _require_known(desk)
    first = simple_mail(subject="hello", sender="hal@example.org")  # to the open Support
    assert desk.deliver(first, sender="hal@example.org") == 0
    assert [a for a, _, _, _ in _rows(desk)] == ["hal@example.org"]  # a row, not registered
    raw = simple_mail(subject="offer", sender="hal@example.org", to="sales@example.com")
    assert desk.deliver(raw, sender="hal@example.org",
                        recipients=("sales@example.com",)) == REFUSED
    csv_path = tmp_path / "c.csv"  # importing registers the row the first mail made
    csv_path.write_text("address,name,company,language\nhal@example.org,Hal,,en\n")
    assert desk.cli("customers", "import", str(csv_path)).returncode == 0
    assert desk.deliver(raw, sender="hal@example.org", recipients=("sales@example.com",)) == 0


@pytest.mark.backends("sqlite")
def test_a_crm_that_cannot_answer_defers_a_closed_queue_and_spares_an_open_one(
        desk: Desk) -> None:
    _require_known(desk, "customers:\n  backend: sql\n  url: postgresql://nobody@127.0.0.1:1/crm\n"
                         f"  table: contacts\n  columns: {COLUMNS}\n")
    raw = simple_mail(subject="order", sender="ann@example.org", to="sales@example.com")
    # 4xx (deliver: EX_TEMPFAIL): the MTA retries; a 5xx would bounce a customer the CRM knows
    assert desk.deliver(raw, sender="ann@example.org", recipients=("sales@example.com",)) == 75
    assert _rows(desk) == []
    open_queue = simple_mail(subject="hello", sender="ann@example.org")
    assert desk.deliver(open_queue, sender="ann@example.org") == 0  # "unknown for now"


@pytest.mark.backends("sqlite")
def test_a_crm_customer_is_known_and_fills_the_new_row(desk: Desk, tmp_path: Path) -> None:
    crm = sqlite_crm(tmp_path / "crm.db")
    before = checksum(crm)
    _require_known(desk, f"customers:\n  backend: sql\n  url: sqlite:///{crm}\n"
                         f"  table: contacts\n  columns: {COLUMNS}\n")
    raw = simple_mail(subject="order", sender="ann@example.org", to="sales@example.com")
    assert desk.deliver(raw, sender="ann@example.org", recipients=("sales@example.com",)) == 0
    stranger = simple_mail(subject="spam", sender="zoe@example.org", to="sales@example.com")
    assert desk.deliver(stranger, sender="zoe@example.org",
                        recipients=("sales@example.com",)) == REFUSED
    assert _rows(desk) == [("ann@example.org", "Ann Archer", "Acme", "de")]
    shown = desk.show(_number(desk, "order"))
    assert (shown["customer_name"], shown["customer_company"]) == ("Ann Archer", "Acme")
    app = desk.app()
    try:
        with app.db.reading() as s:  # the CRM's password hash stays in the CRM
            assert s.execute(select(func.count()).where(
                Customer.password_hash.is_not(None))).scalar() == 0
    finally:
        app.close()
    assert checksum(crm) == before
