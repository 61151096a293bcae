"""The ticket page's rows: one ticket as a page shows it (blocking; on the HTTP thread
pool), for an agent (with
`read` in its queue: everything) or for its customer (the public articles, the state).

Anyone else gets None, as for a ticket that does not exist: the page is a 404 either way,
so ticket numbers cannot be probed.

What is the web's stays there (`maildesk.http.web.ticket_view`): it hands in how a history
event's details read and whether a stored mail has an HTML part worth showing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session, defer, selectinload

from maildesk.config import Agent
from maildesk.store.models import Article, AttachmentRow, History, Ticket, Timer

if TYPE_CHECKING:
    from maildesk.runtime import Runtime

__all__ = ["Clock", "Reader", "TicketView", "allowed", "attachment", "load", "raw_of"]

CLOCKS = ("first_response", "update", "solution")
log = logging.getLogger("maildesk.http.web")
Details = Callable[[str], list[tuple[str, object]]]  # a history event's stored details, shown
HasHtml = Callable[[bytes], bool]  # whether a stored mail has an HTML part


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
    history: list[tuple[datetime, str, str, list[tuple[str, object]]]] = field(
        default_factory=list)
    clocks: list[Clock] = field(default_factory=list)
    merged_into: str | None = None
    permissions: frozenset[str] = frozenset()


def allowed(rt: Runtime, reader: Reader, ticket: Ticket, session: Session) -> bool:
    if reader.agent is not None:
        return "read" in rt.config.permissions(reader.agent, ticket.queue)
    if reader.customer:
        if ticket.customer == reader.customer.lower():
            return True
        if reader.own_only:
            return False
        from maildesk.core.customer_tickets import shares_company

        return shares_company(session, rt.config, reader.customer, ticket.customer)
    return False


def _find(session: Session, number: str) -> Ticket | None:
    if not number or len(number) > 32:
        return None
    return session.execute(select(Ticket).where(Ticket.number == number)).scalar_one_or_none()


def load(rt: Runtime, reader: Reader, number: str, details_of: Details,
         has_html: HasHtml) -> TicketView | None:
    """Five short queries: the ticket, its articles and their attachments (ORM objects,
    for the templates), the history and the clocks as plain rows (ORM objects for a
    couple of hundred history events cost more than the rest of the page)."""
    with rt.db.reading() as session:
        ticket = _find(session, number)
        if ticket is None or not allowed(rt, reader, ticket, session):
            return None
        query = (select(Article).where(Article.ticket_id == ticket.id)
                 .options(selectinload(Article.attachments),
                          defer(Article.envelope_json), defer(Article.notes_json))
                 .order_by(Article.id))
        if reader.agent is None:
            query = query.where(Article.visibility == "public")
        view = TicketView(ticket, list(session.scalars(query)))
        if reader.agent is not None:
            view.permissions = rt.config.permissions(reader.agent, ticket.queue)
            view.history = [(at, actor, event, details_of(details)) for at, actor, event, details
                            in session.execute(select(History.at, History.actor, History.event,
                                                      History.details_json)
                                               .where(History.ticket_id == ticket.id)
                                               .order_by(History.id))]
            view.clocks = [Clock(kind, deadline, stage, due_at is None)
                           for kind, deadline, stage, due_at in session.execute(
                               select(Timer.kind, Timer.deadline, Timer.stage, Timer.due_at)
                               .where(Timer.ticket_id == ticket.id, Timer.kind.in_(CLOCKS)))]
            view.clocks.sort(key=lambda c: CLOCKS.index(c.kind))
        if ticket.merged_into_id:
            view.merged_into = session.scalar(select(Ticket.number).where(
                Ticket.id == ticket.merged_into_id))
        learnt = _learn_html(rt, session, view.articles, has_html)
        session.expunge_all()
    for article in view.articles:  # detached now: no flush to the read-only connection
        if article.id in learnt:
            article.has_html = learnt[article.id]
    if learnt:
        _remember_html(rt, learnt)
    return view


def _learn_html(rt: Runtime, session: Session, articles: list[Article],
                has_html: HasHtml) -> dict[int, bool]:
    """Whether each article not seen before has an HTML part (its stored mail parsed
    once); an article without a stored mail has none."""
    learnt: dict[int, bool] = {}
    for article in articles:
        if article.has_html is not None:
            continue
        key = article.raw_key or article.raw_sha256
        raw = rt.store.get(session, key) if key else None
        learnt[article.id] = raw is not None and has_html(raw)
    return learnt


def _remember_html(rt: Runtime, learnt: dict[int, bool]) -> None:
    """Kept for the next view: a mail never changes. A lost race or a busy database only
    means the next view parses again."""
    from maildesk.store.db import retry_conflicts

    def write() -> None:
        with rt.db.transaction() as session:
            for value in (True, False):
                ids = [i for i, has in learnt.items() if has is value]
                if ids:
                    session.execute(update(Article).where(Article.id.in_(ids))
                                    .values(has_html=value))
    try:
        retry_conflicts(write)
    except Exception:  # noqa: BLE001 - a cache write must never cost the page
        log.warning("could not remember which articles have HTML", exc_info=True)


def attachment(rt: Runtime, reader: Reader, number: str,
               digest: str) -> tuple[bytes, str, str] | None:
    """An attachment's bytes, name and type, if the reader may see its article."""
    with rt.db.reading() as session:
        ticket = _find(session, number)
        if ticket is None or not allowed(rt, reader, ticket, session):
            return None
        query = (select(AttachmentRow).join(Article, Article.id == AttachmentRow.article_id)
                 .where(Article.ticket_id == ticket.id, AttachmentRow.sha256 == digest))
        if reader.agent is None:
            query = query.where(Article.visibility == "public")
        row = session.execute(query.order_by(AttachmentRow.id).limit(1)).scalar_one_or_none()
        if row is None:
            return None
        return rt.store.get(session, digest), row.filename, row.content_type


def raw_of(rt: Runtime, reader: Reader, number: str, article_id: int) -> bytes | None:
    """The stored mail of an article, if the reader may see it."""
    with rt.db.reading() as session:
        ticket = _find(session, number)
        if ticket is None or not allowed(rt, reader, ticket, session):
            return None
        article = session.get(Article, article_id)
        if article is None or article.ticket_id != ticket.id:
            return None
        if reader.agent is None and article.visibility != "public":
            return None
        key = article.raw_key or article.raw_sha256
        return rt.store.get(session, key) if key else None
