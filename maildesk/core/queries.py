"""Reading tickets: the lists and the detail the CLI (and the pages) show.

Each query opens a read transaction of its own (`Database.reading`: it never takes the
writer's lock) and returns plain data in the shapes of SPEC 11 (`maildesk.views`), so an
entrance never holds a session or an ORM object.
"""

from __future__ import annotations

from sqlalchemy import select

from maildesk.store.articles import ArticleStore
from maildesk.store.db import Database
from maildesk.store.models import Ticket, Timer
from maildesk.views import ticket_detail, ticket_summary

__all__ = ["find_tickets", "show_ticket"]


def find_tickets(db: Database, *, queue: str | None = None, state: str | None = None,
                 search: str | None = None, escalated: bool = False
                 ) -> list[dict[str, object]]:
    """Tickets oldest first, filtered; `escalated`: an SLA clock breached."""
    with db.reading() as session:
        query = select(Ticket).order_by(Ticket.id)
        if queue:
            query = query.where(Ticket.queue == queue)
        if state:
            query = query.where(Ticket.state == state)
        if search:
            from maildesk.store.search import matching

            condition = matching(session, search)
            if condition is not None:
                query = query.where(condition)
        if escalated:
            query = query.where(Ticket.id.in_(select(Timer.ticket_id).where(Timer.stage >= 2)))
        return [ticket_summary(t) for t in session.execute(query).scalars()]


def show_ticket(db: Database, store: ArticleStore | None,
                number: str) -> dict[str, object] | None:
    """One ticket with articles and history, or None; with `store`, each article's stored
    mail is checked against its sha256 (`damaged` names what is wrong, else None)."""
    from maildesk.store.verify import check_key

    with db.reading() as session:
        data = ticket_detail(session, number)
        if data is None or store is None:
            return data
        for article in data.get("articles", []):  # type: ignore[attr-defined]
            key = article.get("raw_sha256")  # the stored mail: is it still those bytes?
            if key:
                problem = check_key(session, store, key)[0]
                article["damaged"] = f"raw mail {problem}" if problem else None
        return data
