"""What customers' pages read (blocking; on the HTTP thread pool). A customer sees the
tickets whose customer is their address; never anyone else's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from maildesk.store.models import Ticket

if TYPE_CHECKING:
    from maildesk.app import App

__all__ = ["Listing", "own_tickets"]

PAGE = 25


@dataclass
class Listing:
    tickets: list[Ticket]
    page: int
    pages: int
    total: int


def own_tickets(app: App, address: str, page_number: int) -> Listing:
    address = address.lower()
    with app.db.reading() as session:
        condition = Ticket.customer == address
        total = int(session.execute(select(func.count()).select_from(Ticket)
                                    .where(condition)).scalar() or 0)
        pages = max(1, -(-total // PAGE))
        page_number = min(max(1, page_number), pages)
        rows = list(session.execute(
            select(Ticket).where(condition).order_by(Ticket.updated_at.desc(), Ticket.id.desc())
            .offset((page_number - 1) * PAGE).limit(PAGE)).scalars())
        session.expunge_all()
    return Listing(rows, page_number, pages, total)
