"""Reads over HTTP (blocking; on the HTTP thread pool): the ticket list with filters,
search and cursor, one ticket as `show --json` prints it, an attachment's bytes; and the
ticket lookups and ETag checks the writes share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maildesk.http.errors import ApiError
from maildesk.http.tokens import Caller
from maildesk.store.models import Article, AttachmentRow, History, Ticket
from maildesk.store.search import matching
from maildesk.views import ticket_detail, ticket_summary

if TYPE_CHECKING:
    from maildesk.app import App

__all__ = ["attachment", "check_etag", "etag", "get_ticket", "list_tickets", "locked_ticket"]


def list_tickets(app: App, caller: Caller, *, queue: str | None, state: str | None,
                 customer: str | None, q: str | None, limit: int,
                 cursor: str | None) -> tuple[list[dict[str, object]], str | None]:
    """Oldest first by ticket id (stable while tickets are added); the cursor is the last
    id of the page, opaque to the client."""
    after = _cursor(cursor)
    if queue is not None and not caller.sees(queue):
        raise ApiError(403, f"token {caller.name!r} may not read queue {queue}")
    with app.db.reading() as session:
        query = select(Ticket).where(Ticket.id > after).order_by(Ticket.id).limit(limit + 1)
        if queue is not None:
            query = query.where(Ticket.queue == queue)
        elif caller.queues:
            query = query.where(Ticket.queue.in_(caller.queues))
        if state is not None:
            query = query.where(Ticket.state == state)
        if customer is not None:
            query = query.where(Ticket.customer == customer.lower())
        if q:
            condition = matching(session, q)
            if condition is not None:
                query = query.where(condition)
        rows = list(session.execute(query).scalars())
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _encode(rows[-1].id) if more and rows else None
        return [ticket_summary(t) for t in rows], next_cursor


def _encode(ticket_id: int) -> str:
    return str(ticket_id)


def _cursor(cursor: str | None) -> int:
    """The position after which the next page starts (a ticket id; the schema allows
    digits only, so any cursor is a valid position)."""
    return int(cursor) if cursor else 0


def etag(session: Session, ticket: Ticket) -> str:
    """Changes with every change of the ticket: each one leaves a history event."""
    last = session.execute(select(func.max(History.id))
                           .where(History.ticket_id == ticket.id)).scalar() or 0
    return f'"{ticket.id}.{ticket.version}.{last}"'


def _visible(session: Session, caller: Caller, number: str) -> Ticket:
    ticket = session.execute(select(Ticket).where(Ticket.number == number)
                             ).scalar_one_or_none()
    if ticket is None:
        raise ApiError(404, f"no ticket {number}")
    if not caller.sees(ticket.queue):
        raise ApiError(403, f"ticket {number} is in queue {ticket.queue}, outside token "
                            f"{caller.name!r}'s queues")
    return ticket


def get_ticket(app: App, caller: Caller, number: str) -> tuple[dict[str, object], str]:
    with app.db.reading() as session:
        ticket = _visible(session, caller, number)
        tag = etag(session, ticket)
        data = ticket_detail(session, number)
    assert data is not None
    return data, tag


def locked_ticket(session: Session, caller: Caller, number: str) -> Ticket:
    """The ticket for a write, row-locked (PostgreSQL, MariaDB; SQLite's write transaction
    holds the database) so a concurrent writer waits and then sees this one's change."""
    ticket = _visible(session, caller, number)
    session.refresh(ticket, with_for_update=True)
    return ticket


def check_etag(session: Session, ticket: Ticket, if_match: str | None) -> None:
    """409 when the client's copy is older than the ticket: another writer won the race
    (SPEC 14's status for it; the ETag in the answer is the ticket's now)."""
    if if_match is None or if_match.strip() == "*":
        return
    current = etag(session, ticket)
    wanted = {t.strip().removeprefix("W/") for t in if_match.split(",")}
    if current not in wanted:
        raise ApiError(409, f"ticket {ticket.number} changed since you read it (ETag is now "
                            f"{current}); read it again and retry",
                       headers={"ETag": current})


def attachment(app: App, caller: Caller, number: str,
               digest: str) -> tuple[bytes, str, str]:
    with app.db.reading() as session:
        ticket = _visible(session, caller, number)
        row = session.execute(
            select(AttachmentRow).join(Article, Article.id == AttachmentRow.article_id)
            .where(Article.ticket_id == ticket.id, AttachmentRow.sha256 == digest)
            .order_by(AttachmentRow.id).limit(1)).scalar_one_or_none()
        if row is None:
            raise ApiError(404, f"ticket {number} has no attachment {digest}")
        return app.store.get(session, digest), row.filename, row.content_type
