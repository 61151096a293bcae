"""The customer's tickets: what customers' pages read (blocking; on the HTTP thread
pool). A customer sees the tickets whose customer is their address; a company admin also
those of every customer of their company; nobody sees another company's.

Who is a company admin: the customer's table row says so (`company_admin`), or the first
`customers:` backend that knows the address does (its `company_admin` field). The company
is the row's, else that backend's. Which tickets are the company's: those whose customer
has a table row with that company (rows are written at a customer's first mail, with the
backend's company, and by `maildesk customers import`). An empty company is nobody's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from maildesk.store.models import Customer, Ticket

if TYPE_CHECKING:
    from maildesk.config import Config
    from maildesk.runtime import Runtime

__all__ = ["Listing", "Scope", "company_of", "own_tickets", "shares_company"]

log = logging.getLogger("maildesk.http.web")

PAGE = 25


@dataclass
class Listing:
    """One page of tickets: `more` says whether a next page exists (no total count: on
    a million tickets counting costs more than the page)."""

    tickets: list[Ticket]
    page: int
    more: bool
    company: str | None = None  # the company whose tickets are listed too


@dataclass(frozen=True)
class Scope:
    """Whose tickets a customer sees: their own, and `company`'s when they administer it."""

    address: str
    company: str | None = None


def company_of(session: Session, config: Config, address: str) -> str | None:
    """The company whose tickets `address` may see, or None (not a company admin)."""
    address = address.strip().lower()
    row = session.execute(select(Customer.company, Customer.company_admin).where(
        Customer.address == address)).first()
    company = _company(row.company) if row else None
    if row is not None and row.company_admin:
        return company
    from maildesk.customers.directory import backends_from_config
    from maildesk.customers.record import BackendDown

    for backend in backends_from_config(config):
        try:
            record = backend.lookup(address)
        except BackendDown as exc:
            log.info("company view of <%s>: backend %s down: %s", address, backend.name, exc)
            return None  # unknown for now: their own tickets only
        if record is not None:
            return (company or _company(record.company)) if record.company_admin else None
    return None


def _company(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _visible(scope: Scope) -> ColumnElement[bool]:
    own = Ticket.customer == scope.address
    if scope.company is None:
        return own
    return or_(own, Ticket.customer.in_(
        select(Customer.address).where(Customer.company == scope.company)))


def shares_company(session: Session, config: Config, reader: str, customer: str) -> bool:
    """Whether `reader` administers the company of `customer` (a ticket's customer)."""
    company = company_of(session, config, reader)
    if company is None or not customer:
        return False
    return session.execute(select(Customer.id).where(
        Customer.address == customer.lower(), Customer.company == company)).first() is not None


def own_tickets(rt: Runtime, address: str, page_number: int) -> Listing:
    """The customer's tickets, and their company's when they are its admin."""
    page_number = max(1, page_number)
    with rt.db.reading() as session:
        seen = Scope(address.strip().lower(), company_of(session, rt.config, address))
        rows = list(session.execute(
            select(Ticket).where(_visible(seen))
            .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
            .offset((page_number - 1) * PAGE).limit(PAGE + 1)).scalars())
        session.expunge_all()
    return Listing(rows[:PAGE], page_number, len(rows) > PAGE, seen.company)
