"""One ticket as a page shows it (blocking; on the HTTP thread pool), for an agent (with
`read` in its queue: everything) or for its customer (the public articles, the state).

Anyone else gets None, as for a ticket that does not exist: the page is a 404 either way,
so ticket numbers cannot be probed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from maildesk.config import Agent
from maildesk.store.models import Article, AttachmentRow, Ticket, Timer

if TYPE_CHECKING:
    from maildesk.app import App

__all__ = ["Reader", "TicketView", "allowed", "attachment", "load", "raw_of"]

CLOCKS = ("first_response", "update", "solution")


@dataclass(frozen=True)
class Reader:
    """Who reads: an agent (by the config) or a customer (by address; a company admin
    also reads the company's tickets unless `own_only`)."""

    agent: Agent | None = None
    customer: str | None = None
    own_only: bool = False


@dataclass
class Clock:
    kind: str
    deadline: datetime | None
    stage: int  # 0 running, 1 warned, 2 breached
    stopped: bool  # pending: the clock waits


@dataclass
class TicketView:
    ticket: Ticket
    articles: list[Article]
    history: list[tuple[datetime, str, str, str]] = field(default_factory=list)
    clocks: list[Clock] = field(default_factory=list)
    merged_into: str | None = None
    permissions: frozenset[str] = frozenset()


def allowed(app: App, reader: Reader, ticket: Ticket, session: Session) -> bool:
    if reader.agent is not None:
        return "read" in app.config.permissions(reader.agent, ticket.queue)
    if reader.customer:
        if ticket.customer == reader.customer.lower():
            return True
        if reader.own_only:
            return False
        from maildesk.http.web.customer_queries import shares_company

        return shares_company(session, app.config, reader.customer, ticket.customer)
    return False


def _find(session: Session, number: str) -> Ticket | None:
    if not number or len(number) > 32:
        return None
    return session.execute(select(Ticket).where(Ticket.number == number)).scalar_one_or_none()


def load(app: App, reader: Reader, number: str) -> TicketView | None:
    with app.db.reading() as session:
        ticket = session.execute(
            select(Ticket).where(Ticket.number == number).options(
                selectinload(Ticket.articles).selectinload(Article.attachments),
                selectinload(Ticket.history))).scalar_one_or_none()
        if ticket is None or not allowed(app, reader, ticket, session):
            return None
        articles = list(ticket.articles)
        view = TicketView(ticket, articles)
        if reader.agent is None:
            view.articles = [a for a in articles if a.visibility == "public"]
        else:
            view.permissions = app.config.permissions(reader.agent, ticket.queue)
            view.history = [(h.at, h.actor, h.event, _details(h.details_json))
                            for h in ticket.history]
            view.clocks = [Clock(t.kind, t.deadline, t.stage, t.due_at is None)
                           for t in session.scalars(select(Timer).where(
                               Timer.ticket_id == ticket.id, Timer.kind.in_(CLOCKS)))]
            view.clocks.sort(key=lambda c: CLOCKS.index(c.kind))
        if ticket.merged_into_id:
            survivor = session.get(Ticket, ticket.merged_into_id)
            view.merged_into = survivor.number if survivor else None
        for article in view.articles:
            _ = article.attachments
        session.expunge_all()
    return view


def _details(text: str) -> str:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return str(data)
    return ", ".join(f"{k}: {v}" for k, v in data.items() if v not in (None, "", [], {}))


def attachment(app: App, reader: Reader, number: str,
               digest: str) -> tuple[bytes, str, str] | None:
    """An attachment's bytes, name and type, if the reader may see its article."""
    with app.db.reading() as session:
        ticket = _find(session, number)
        if ticket is None or not allowed(app, reader, ticket, session):
            return None
        query = (select(AttachmentRow).join(Article, Article.id == AttachmentRow.article_id)
                 .where(Article.ticket_id == ticket.id, AttachmentRow.sha256 == digest))
        if reader.agent is None:
            query = query.where(Article.visibility == "public")
        row = session.execute(query.order_by(AttachmentRow.id).limit(1)).scalar_one_or_none()
        if row is None:
            return None
        return app.store.get(session, digest), row.filename, row.content_type


def raw_of(app: App, reader: Reader, number: str, article_id: int) -> bytes | None:
    """The stored mail of an article, if the reader may see it."""
    with app.db.reading() as session:
        ticket = _find(session, number)
        if ticket is None or not allowed(app, reader, ticket, session):
            return None
        article = session.get(Article, article_id)
        if article is None or article.ticket_id != ticket.id:
            return None
        if reader.agent is None and article.visibility != "public":
            return None
        key = article.raw_key or article.raw_sha256
        return app.store.get(session, key) if key else None
