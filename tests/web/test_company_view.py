"""The company view (issues 16 and 17): a company admin (by the customer table, or by the
CRM) sees the tickets of the company's customers; a plain customer only their own; nobody
another company's, and a ticket they may not see answers 404 like one that does not exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from maildesk.store.models import Article, Customer
from tests.conftest import Desk
from tests.customers.crm import COLUMNS, checksum, sqlite_crm
from tests.web.conftest import Web, serve_web
from tests.web.test_password_login import add_customer, password_login

pytestmark = pytest.mark.backends  # the company's subquery on every database


def _companies(web: Web) -> dict[str, str]:
    """ann (Acme admin), bob (Acme), carl (Other admin), each with a ticket."""
    add_customer(web, "ann@example.org", company="Acme", admin=True)
    add_customer(web, "bob@example.org", company="Acme")
    add_customer(web, "carl@other.example", company="Other", admin=True)
    return {who: web.ticket(subject=f"{who}'s problem", sender=address)
            for who, address in (("ann", "ann@example.org"), ("bob", "bob@example.org"),
                                 ("carl", "carl@other.example"))}


def _article(web: Web, number: str) -> int:
    with web.app.db.reading() as session:
        from maildesk.store.models import Ticket

        return int(session.execute(select(Article.id).join(Ticket).where(
            Ticket.number == number)).scalar_one())


def test_a_company_admin_sees_the_companys_tickets_and_no_others(web: Web) -> None:
    numbers = _companies(web)
    ann = web.sign_in("ann@example.org", kind="customer", client=web.browser())
    home = ann.get("/").text
    assert "ann&#39;s problem" in home and "bob&#39;s problem" in home
    assert "carl" not in home
    assert "As an administrator of Acme" in home and "bob@example.org" in home
    page = ann.get(f"/tickets/{numbers['bob']}")
    assert page.status_code == 200 and "bob&#39;s problem" in page.text
    assert 'action="/tickets/' not in page.text  # a colleague's ticket: no reply form
    # Another company's ticket: 404, the same page as a number that does not exist.
    other = ann.get(f"/tickets/{numbers['carl']}")
    missing = ann.get("/tickets/99999999")
    assert other.status_code == missing.status_code == 404
    assert other.text.replace(numbers["carl"], "N") == missing.text.replace("99999999", "N")
    assert "carl" not in other.text
    article = _article(web, numbers["carl"])
    assert ann.get(f"/tickets/{numbers['carl']}/articles/{article}/html").status_code == 404


def test_a_company_admin_cannot_answer_a_colleagues_ticket(web: Web) -> None:
    numbers = _companies(web)
    ann = web.sign_in("ann@example.org", kind="customer", client=web.browser())
    csrf = web.csrf(ann, "/")
    answer = ann.post(f"/tickets/{numbers['bob']}/reply", data={"csrf": csrf, "body": "hi"})
    assert answer.status_code == 404
    assert len(web.desk.show(numbers["bob"])["articles"]) == 1


def test_a_plain_customer_sees_only_their_own(web: Web) -> None:
    numbers = _companies(web)
    bob = web.sign_in("bob@example.org", kind="customer", client=web.browser())
    home = bob.get("/").text
    assert "bob&#39;s problem" in home and "ann" not in home
    assert "As an administrator" not in home
    for who in ("ann", "carl"):
        page = bob.get(f"/tickets/{numbers[who]}")
        assert page.status_code == 404 and f"{who}&#39;s problem" not in page.text
        article = _article(web, numbers[who])
        assert bob.get(f"/tickets/{numbers[who]}/articles/{article}/html").status_code == 404


def test_a_customer_without_a_company_sees_only_their_own(web: Web) -> None:
    """An admin flag without a company opens nothing (an empty company is nobody's)."""
    _companies(web)
    add_customer(web, "dora@example.org", admin=True)
    web.ticket(subject="dora's", sender="dora@example.org")
    web.ticket(subject="no row at all", sender="eve@example.org")
    dora = web.sign_in("dora@example.org", kind="customer", client=web.browser())
    home = dora.get("/").text
    assert "dora&#39;s" in home and "problem" not in home and "no row" not in home


def test_the_company_view_by_password_login(web: Web) -> None:
    numbers = _companies(web)
    with web.app.db.transaction() as session:
        from maildesk.customers.passwords import hash_password

        row = session.execute(select(Customer).where(
            Customer.address == "ann@example.org")).scalar_one()
        row.password_hash = hash_password("ann's password")
    browser = web.browser()
    assert password_login(web, "ann@example.org", "ann's password", browser).status_code == 303
    assert browser.get(f"/tickets/{numbers['bob']}").status_code == 200
    assert browser.get(f"/tickets/{numbers['carl']}").status_code == 404


def test_the_crm_marks_the_company_admin_and_holds_the_password(desk: Desk,
                                                               tmp_path: Path) -> None:
    """A read-only CRM (SQL backend): its is_admin column opens the company view, its
    bcrypt column signs in, and the CRM file is never written (the lockout counter goes
    into maildesk's own table)."""
    import bcrypt

    crm = sqlite_crm(tmp_path / "crm.db", [
        ("ann@example.org", "Ann", "Acme", "en",
         bcrypt.hashpw(b"crm password", bcrypt.gensalt(4)).decode(), 1),
        ("bob@example.org", "Bob", "Acme", None, None, 0),
    ])
    before = checksum(crm)
    desk.config_path.write_text(desk.config_path.read_text() + (
        f"customers:\n  backend: sql\n  url: sqlite:///{crm}\n  table: contacts\n"
        f"  columns: {COLUMNS}\n"))
    for web in serve_web(desk):
        # bob's row (as his first mail makes it) says his company; ann has no row yet
        add_customer(web, "bob@example.org", company="Acme")
        bob_ticket = web.ticket(subject="bob's problem", sender="bob@example.org")
        assert password_login(web, "ann@example.org", "wrong").status_code == 422
        with web.app.db.reading() as session:  # a row to count on, made for her
            row = session.execute(select(Customer).where(
                Customer.address == "ann@example.org")).scalar_one()
            # filled from the CRM as a first mail's row is; password and admin flag not
            assert (row.failed_logins, row.name, row.company, row.language) == (
                1, "Ann", "Acme", "en")
            assert row.password_hash is None and not row.company_admin
        browser = web.browser()
        answer = password_login(web, "ann@example.org", "crm password", browser)
        assert answer.status_code == 303, answer.text
        assert browser.get(f"/tickets/{bob_ticket}").status_code == 200
        assert "bob&#39;s problem" in browser.get("/").text
        # bob is in the CRM without a password: refused like anybody
        assert password_login(web, "bob@example.org", "anything").status_code == 422
    assert checksum(crm) == before


def test_a_company_name_is_shown_as_text(web: Web) -> None:
    evil = '<script>alert(1)</script>"Acme'
    add_customer(web, "ann@example.org", company=evil, admin=True)
    add_customer(web, "bob@example.org", company=evil)
    web.ticket(subject="bob's", sender="bob@example.org")
    ann = web.sign_in("ann@example.org", kind="customer", client=web.browser())
    home = ann.get("/").text
    assert "<script>alert(1)" not in home
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;Acme" in home and "bob&#39;s" in home


def test_first_mails_put_colleagues_into_the_crm_admins_view(desk: Desk,
                                                             tmp_path: Path) -> None:
    """Nothing written by hand: the CRM knows ann (admin, password), bob and carl; their
    first mails make their customer rows with the CRM's company; ann signs in with the
    CRM's password and sees bob's ticket, not carl's."""
    import bcrypt

    crm = sqlite_crm(tmp_path / "crm.db", [
        ("ann@example.org", "Ann", "Acme", "en",
         bcrypt.hashpw(b"crm password", bcrypt.gensalt(4)).decode(), 1),
        ("bob@example.org", "Bob", "Acme", None, None, 0),
        ("carl@other.example", "Carl", "Other", None, None, 1),
    ])
    desk.config_path.write_text(desk.config_path.read_text() + (
        f"customers:\n  backend: sql\n  url: sqlite:///{crm}\n  table: contacts\n"
        f"  columns: {COLUMNS}\n"))
    for web in serve_web(desk):
        bob = web.ticket(subject="bob's problem", sender="bob@example.org")
        carl = web.ticket(subject="carl's problem", sender="carl@other.example")
        browser = web.browser()
        answer = password_login(web, "ann@example.org", "crm password", browser)
        assert answer.status_code == 303, answer.text
        home = browser.get("/").text
        assert "bob&#39;s problem" in home and "carl" not in home
        assert browser.get(f"/tickets/{bob}").status_code == 200
        assert browser.get(f"/tickets/{carl}").status_code == 404
