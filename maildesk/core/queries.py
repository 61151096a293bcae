"""Reading tickets: the lists and the detail the CLI, the HTTP API (and the pages) show.

Each query opens a read transaction of its own (`Database.reading`: it never takes the
writer's lock) and returns plain data in the shapes of SPEC 11 (`maildesk.views`), so an
entrance never holds a session or an ORM object. The few that take a `session` are for
work inside the caller's write transaction (a write's lookup, row lock and ETag check).

Who may see a ticket is the entrance's business (an API token's queues): the queries that
read one ticket take a `Gate`, called with the ticket's number and queue (`None`: there is
no such ticket) before anything of it is read, which raises to refuse.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from maildesk.store.articles import ArticleStore
from maildesk.store.db import Database
from maildesk.store.models import (
    Article,
    AttachmentRow,
    History,
    MessageIdRow,
    Ticket,
    Timer,
)
from maildesk.store.rollup import TicketCount
from maildesk.views import iso, ticket_detail, ticket_summary

if TYPE_CHECKING:
    from maildesk.customers.record import CustomerRecord
    from maildesk.store.verify import Report as VerifyReport

__all__ = ["Gate", "etag", "events_between", "find_tickets", "has_tickets", "is_known_customer",
           "known_message_ids", "last_history_id", "locked_ticket", "outbox_list",
           "read_attachment", "read_ticket", "show_ticket", "ticket_by_number", "ticket_counts",
           "ticket_page", "ticket_queue", "verify_articles"]

Gate = Callable[[str, "str | None"], None]


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


def ticket_page(db: Database, *, after: int, limit: int, queues: Collection[str] | None,
                state: str | None = None, customer: str | None = None,
                search: str | None = None) -> tuple[list[dict[str, object]], int | None]:
    """One page of tickets by id after `after`, in `queues` (None: all), filtered; and the
    last id of the page when more follow (the next page's `after`)."""
    with db.reading() as session:
        query = (select(*_SUMMARY_COLUMNS).where(Ticket.id > after).order_by(Ticket.id)
                 .limit(limit + 1))
        if queues is not None:
            query = query.where(Ticket.queue.in_(list(queues)))
        if state is not None:
            query = query.where(Ticket.state == state)
        if customer is not None:
            query = query.where(Ticket.customer == customer.lower())
        if search:
            from maildesk.store.search import matching

            condition = matching(session, search, limit=limit + 1)  # a page: may stop early
            if condition is not None:
                query = query.where(condition)
        rows = session.execute(query).all()  # rows, not ORM objects: a list of 50 is read only
        more = len(rows) > limit
        rows = rows[:limit]
        return [_summary(r) for r in rows], (rows[-1].id if more and rows else None)


# A ticket's summary (views.ticket_summary's shape) from its columns: a page of the list
# builds no ORM object (identity map, instance state, the session's rollback expiring it).
_SUMMARY_COLUMNS = (Ticket.id, Ticket.number, Ticket.title, Ticket.queue, Ticket.state,
                    Ticket.priority, Ticket.owner, Ticket.locked, Ticket.customer,
                    Ticket.cc_json, Ticket.tags_json, Ticket.created_at, Ticket.updated_at,
                    Ticket.first_response_at, Ticket.closed_at, Ticket.language,
                    Ticket.pending_until)


def _summary(row: Any) -> dict[str, object]:
    """views.ticket_summary of the ticket this row holds the columns of (the same dict:
    tests/core/test_queries.py compares them)."""
    return {
        "number": row.number, "title": row.title, "queue": row.queue, "state": row.state,
        "priority": row.priority, "owner": row.owner, "locked": row.locked,
        "customer": row.customer, "cc": list(json.loads(row.cc_json or "[]")),
        "tags": list(json.loads(row.tags_json or "[]")), "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at), "first_response_at": iso(row.first_response_at),
        "closed_at": iso(row.closed_at), "language": row.language,
        "pending_until": iso(row.pending_until),
    }


def read_ticket(db: Database, number: str, gate: Gate) -> tuple[dict[str, object], str] | None:
    """The ticket as `show --json` prints it and its ETag; None when there is none."""
    with db.reading() as session:
        ticket = _gated(session, number, gate)
        if ticket is None:
            return None
        tag = etag(session, ticket)
        data = ticket_detail(session, number, ticket)
    return (data, tag) if data is not None else None


def read_attachment(db: Database, store: ArticleStore, number: str, digest: str,
                    gate: Gate) -> tuple[bytes, str, str] | None:
    """An attachment of the ticket: its bytes as received, file name and content type;
    None when the ticket (after the gate) or the attachment is not there."""
    with db.reading() as session:
        ticket = _gated(session, number, gate)
        if ticket is None:
            return None
        row = session.execute(
            select(AttachmentRow).join(Article, Article.id == AttachmentRow.article_id)
            .where(Article.ticket_id == ticket.id, AttachmentRow.sha256 == digest)
            .order_by(AttachmentRow.id).limit(1)).scalar_one_or_none()
        if row is None:
            return None
        return store.get(session, digest), row.filename, row.content_type


def locked_ticket(session: Session, number: str, gate: Gate) -> Ticket | None:
    """The ticket for a write in the caller's transaction, row-locked (PostgreSQL, MariaDB;
    SQLite's write transaction holds the database) so that a concurrent writer waits and
    then sees this one's change."""
    ticket = _gated(session, number, gate)
    if ticket is not None:
        session.refresh(ticket, with_for_update=True)
    return ticket


def etag(session: Session, ticket: Ticket) -> str:
    """Changes with every change of the ticket: each one leaves a history event."""
    last = session.execute(_LAST_EVENT, {"ticket_id": ticket.id}).scalar() or 0
    return f'"{ticket.id}.{ticket.version}.{last}"'


def is_known_customer(session: Session, address: str | None,
                      directory: CustomerRecord | None = None) -> bool:
    """A registered customer (routing's `known_customer`, a queue's
    `require_known_customer`): in the customers table, else in a `customers:` directory
    (`directory`: its answer, asked before the transaction by customers.lookup)."""
    from maildesk.customers.lookup import is_known

    return is_known(session, address, directory)


def ticket_by_number(session: Session, number: str) -> Ticket | None:
    """Ticket `number` in the caller's transaction (the web's forms run their block on it)."""
    return session.execute(select(Ticket).where(Ticket.number == number)).scalar_one_or_none()


def has_tickets(session: Session, address: str) -> bool:
    """Whether `address` (lower case) is the customer of any ticket (a web login's who)."""
    return session.execute(select(Ticket.id).where(Ticket.customer == address)
                           .limit(1)).first() is not None


def ticket_queue(session: Session, number: str) -> str | None:
    """The queue of ticket `number` (for a log line), None when there is none."""
    return session.execute(select(Ticket.queue).where(Ticket.number == number)).scalar()


def verify_articles(db: Database, store: ArticleStore) -> VerifyReport:
    """Every stored mail and attachment of every ticket against its sha256 (read-only)."""
    from maildesk.store.verify import verify_store

    with db.reading() as session:
        return verify_store(session, store)


def outbox_list(db: Database, state: str | None) -> list[dict[str, object]]:
    """The outbox rows (what `maildesk outbox` lists), optionally in one state."""
    from maildesk.outbound.outbox import outbox_rows

    with db.reading() as session:
        return outbox_rows(session, state)


def known_message_ids(db: Database, ids: Collection[str]) -> set[str]:
    """Which of these Message-IDs maildesk received already (the threading index), so a
    mailbox poll fetches no body it stored before."""
    wanted = sorted({i[:191] for i in ids if i})
    found: set[str] = set()
    with db.reading() as session:
        for start in range(0, len(wanted), 500):
            found.update(session.execute(
                select(MessageIdRow.message_id)
                .where(MessageIdRow.message_id.in_(wanted[start:start + 500]),
                       MessageIdRow.direction == "in")).scalars())
    return found


def ticket_counts(session: Session) -> list[tuple[str, str, int]]:
    """(queue, state, tickets) for every pair that has tickets (`/metrics`), from the counts
    kept with every change (store.rollup, as the queue overview reads them): counting the
    tickets scanned a million index entries every refresh, beside the requests."""
    rows = session.execute(select(TicketCount.queue, TicketCount.state, func.sum(TicketCount.n))
                           .group_by(TicketCount.queue, TicketCount.state)).all()
    return [(queue, state, int(count)) for queue, state, count in rows if count]


def last_history_id(session: Session) -> int:
    """The newest history row's id (0: none): a cursor for counting what came after."""
    return session.execute(select(func.max(History.id))).scalar() or 0


def events_between(session: Session, after: int | None, upto: int,
                   events: Collection[str]) -> int:
    """History rows of these events with `after < id <= upto` (`after` None: from the
    start)."""
    query = select(func.count()).select_from(History).where(
        History.id <= upto, History.event.in_(list(events)))
    if after is not None:
        query = query.where(History.id > after)
    return session.execute(query).scalar() or 0


# Built once (a statement built per call costs its construction and cache key, ~0.2 ms
# of a ticket GET: issue 15).
_BY_NUMBER = select(Ticket).where(Ticket.number == bindparam("number"))
_LAST_EVENT = select(func.max(History.id)).where(History.ticket_id == bindparam("ticket_id"))


def _gated(session: Session, number: str, gate: Gate) -> Ticket | None:
    ticket = session.execute(_BY_NUMBER, {"number": number}).scalar_one_or_none()
    gate(number, ticket.queue if ticket is not None else None)
    return ticket
