"""A customer signing in with a password in a real browser (the second form of /login), as
their company's admin: a wrong password first (the one answer every refusal gets), then the
right one, and the company's tickets, not another company's."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from maildesk.customers.passwords import hash_password
from maildesk.store.models import Customer
from tests.browser.conftest import Site


def _customers(site: Site, rows: dict[str, tuple[str, bool, str | None]]) -> None:
    """address -> (company, company_admin, password): the row a first mail or an import
    would have made, completed."""
    app = site.api.desk.app()
    try:
        with app.db.transaction() as session:
            for address, (company, admin, password) in rows.items():
                row = session.execute(select(Customer).where(
                    Customer.address == address)).scalar_one_or_none()
                if row is None:
                    row = Customer(address=address, name="")
                    session.add(row)
                row.company, row.company_admin = company, admin
                row.password_hash = hash_password(password) if password else None
    finally:
        app.close()


def test_a_company_admin_signs_in_with_a_password(site: Site, page: Any) -> None:
    site.mail("Ann's printer", sender="ann@example.org")
    bob = site.mail("Bob's invoice", sender="bob@example.org")
    site.mail("Carl's secret", sender="carl@other.example")
    _customers(site, {"ann@example.org": ("Acme", True, "ann's password"),
                      "bob@example.org": ("Acme", False, None),
                      "carl@other.example": ("Other", True, None)})
    page.goto(f"{site.url}/login")
    page.fill("#pw-address", "ann@example.org")
    page.fill("#password", "not it")
    page.get_by_role("button", name="Sign in").click()
    assert "do not sign you in" in page.get_by_role("alert").inner_text()
    refused = [p for p in site.problems if "status of 422" in p]  # that page's status
    assert len(refused) == 1
    site.problems.remove(refused[0])
    assert page.input_value("#pw-address") == "ann@example.org"
    page.fill("#password", "ann's password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.url}/")
    assert page.locator("h1").inner_text() == "My tickets"
    assert page.get_by_text("Ann's printer").is_visible()
    assert page.get_by_text("Bob's invoice").is_visible()
    assert page.get_by_text("Carl's secret").count() == 0
    site.shot(page, "customer-company")
    page.get_by_role("link", name=bob).click()
    page.wait_for_url(f"{site.url}/tickets/{bob}")
    assert page.locator("#reply").count() == 0  # a colleague's ticket: read only
