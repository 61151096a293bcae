"""What customers' pages read (blocking; on the HTTP thread pool). A customer sees the
tickets whose customer is their address; never anyone else's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from maildesk.store.models import Ticket

if TYPE_CHECKING:
    from maildesk.app import App

__all__ = ["Listing", "own_tickets"]

PAGE = 25


@dataclass
class Listing:
    """One page of tickets: `more` says whether a next page exists (no total count: on
    a million tickets counting costs more than the page)."""

    tickets: list[Ticket]
    page: int
    more: bool


def own_tickets(app: App, address: str, page_number: int) -> Listing:
    address = address.lower()
    page_number = max(1, page_number)
    with app.db.reading() as session:
        rows = list(session.execute(
            select(Ticket).where(Ticket.customer == address)
            .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
            .offset((page_number - 1) * PAGE).limit(PAGE + 1)).scalars())
        session.expunge_all()
    return Listing(rows[:PAGE], page_number, len(rows) > PAGE)
