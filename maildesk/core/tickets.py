"""Ticket primitives every core operation builds on: every change leaves a history event,
and articles keep their Message-IDs in the threading index.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import fields
from typing import cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_dict, set_committed_value

from maildesk.config import Config
from maildesk.intake.message import Envelope, ParsedMail
from maildesk.store import rollup
from maildesk.store.articles import ArticleStore
from maildesk.store.db import execute_core, insert_ignore_statement, insert_later
from maildesk.store.jsontext import json_encoder
from maildesk.store.models import (
    Article,
    AttachmentRow,
    History,
    MessageIdRow,
    Ticket,
    dumps,
    utcnow,
)
from maildesk.store.numbers import next_ticket_number
from maildesk.store.rows import insert_object, new_object
from maildesk.timers.hooks import written

__all__ = [
    "add_article",
    "create_ticket",
    "index_message_id",
    "record",
    "set_state",
]


_INSERT_HISTORY = insert(cast(Table, History.__table__))  # Core: no unit of work
_INSERT_ATTACHMENT = insert(cast(Table, AttachmentRow.__table__))


def record(session: Session, ticket: Ticket, event: str, actor: str = "system",
           **details: object) -> None:
    """One history event, a cached Core INSERT: a mail leaves five or more, and going
    through the ORM's unit of work for each cost a tenth of the pipeline. Inside the
    pipeline (`store.db.deferred_inserts`) a mail's rows go in one executemany."""
    if ticket.id is None:
        session.flush()
    now = utcnow()
    row = {"ticket_id": ticket.id, "event": event, "actor": actor, "at": now,
           "details_json": dumps(details)}
    if not insert_later(session, _INSERT_HISTORY, row):  # the pipeline writes a mail's at once
        execute_core(session, _INSERT_HISTORY, row)
    if ticket.updated_at is None or (now - ticket.updated_at).total_seconds() >= 1:
        # Not on every event: each change is an UPDATE of the ticket (and its version)
        # at the next flush, several per mail for one timestamp.
        ticket.updated_at = now


def create_ticket(session: Session, config: Config, *, title: str, queue: str, customer: str,
                  priority: int | None = None, state: str | None = None,
                  owner: str | None = None, tags: tuple[str, ...] = (),
                  language: str | None = None, linked_to: Ticket | None = None,
                  actor: str = "system",
                  before_insert: Callable[[Ticket], object] | None = None) -> Ticket:
    """A new ticket, inserted at once (its id for what follows) with one Core INSERT
    (`store.rows`); the ticket counts and the due times are told, as their flush hooks
    would have been. `before_insert` fills columns from other tables first (the customer
    row's id), so the INSERT carries them: set afterwards, they cost an UPDATE of the
    fresh ticket (and its version) per mail."""
    number = next_ticket_number(session, number_format=config.instance.number_format,
                                system_id=config.instance.system_id)
    now = utcnow()
    ticket = new_object(Ticket, number=number, title=title[:500], queue=queue,
                        customer=customer, priority=priority or 3, state=state or "new",
                        owner=owner, locked=False, customer_id=None, cc_json="[]",
                        tags_json=dumps(sorted(set(tags))), language=language,
                        pending_until=None, merged_into_id=None,
                        linked_to_id=linked_to.id if linked_to else None, created_at=now,
                        updated_at=now, first_response_at=None, closed_at=None, version=1)
    if before_insert is not None:
        before_insert(ticket)
    insert_object(session, ticket)
    set_committed_value(ticket, "articles", [])  # known empty: no lazy load later
    rollup.add(session, Counter({(ticket.queue, ticket.state, ticket.id % rollup.SLOTS): 1}))
    written(session, ticket, created=True)
    record(session, ticket, "created", actor, queue=queue, priority=ticket.priority,
           state=ticket.state)
    if linked_to is not None:
        record(session, ticket, "linked", actor, to=linked_to.number)
        record(session, linked_to, "linked", actor, to=ticket.number)
    return ticket


def index_message_id(session: Session, ticket: Ticket, message_id: str | None,
                     direction: str = "in", outbox_id: int | None = None) -> None:
    if not message_id:
        return
    statement = insert_ignore_statement(session, MessageIdRow)
    row = {"message_id": message_id[:191], "ticket_id": ticket.id, "direction": direction,
           "outbox_id": outbox_id, "created_at": utcnow()}
    if not insert_later(session, statement, row):
        execute_core(session, statement, row)


def add_article(session: Session, store: ArticleStore, ticket: Ticket, *,
                mail: ParsedMail, raw: bytes | None, envelope: Envelope | None,
                sender_type: str = "customer", visibility: str = "public",
                kind: str = "mail", verified: bool = True, actor: str = "system",
                body: str | None = None, raw_sha256: str | None = None,
                content_sha256: str | None = None) -> Article:
    """The mail as an article of `ticket`, its rows written with Core INSERTs
    (`store.rows`); the due times are told of it (`timers.hooks.written`)."""
    # raw_sha256 is the pipeline's sha256 of these very bytes: not hashed a second time
    raw_key = store.put(session, raw, raw_sha256) if raw is not None else None
    if ticket.id is None:
        session.flush()
    article = new_object(
        Article,
        ticket_id=ticket.id,
        message_id=mail.message_id,
        from_addr=_from_text(mail),
        to_json=dumps(mail.to),
        cc_json=dumps(mail.cc),
        subject=mail.subject,
        sender_type=sender_type,
        visibility=visibility,
        kind=kind,
        body=(mail.body if body is None else body).replace("\x00", "\ufffd"),
        raw_sha256=raw_sha256 if raw is not None else None,
        content_sha256=content_sha256 if raw is not None else None,
        raw_key=raw_key,
        raw_size=len(raw) if raw is not None else 0,
        envelope_json=_envelope_json(envelope) if envelope else "{}",
        notes_json=dumps(mail.notes),
        verified=verified,
        created_at=utcnow(),
        has_html=None,
    )
    insert_object(session, article)
    for att in mail.attachments:  # rows nobody reads back now: with the history's
        store.put(session, att.data)
        row = {"article_id": article.id, "filename": att.filename,
               "content_type": att.content_type[:255], "size": att.size, "sha256": att.sha256}
        if not insert_later(session, _INSERT_ATTACHMENT, row):
            execute_core(session, _INSERT_ATTACHMENT, row)
    # What the ORM would have known had it inserted them (a mail's attachments are read
    # from their table when asked for), without events or history.
    if not mail.attachments:
        set_committed_value(article, "attachments", [])
    set_committed_value(article, "ticket", ticket)
    # `inspect(ticket).attrs.articles.loaded_value`, without building the state's
    # AttributeState of every column first (~20 us a ticket): its dict, a list when loaded
    known = instance_dict(ticket).get("articles")
    if isinstance(known, list):
        set_committed_value(ticket, "articles", [*known, article])
    written(session, ticket, customer_wrote=sender_type == "customer" and kind == "mail")
    index_message_id(session, ticket, mail.message_id, "in")
    record(session, ticket, "article added", actor, article=article.id, kind=kind,
           sender_type=sender_type, visibility=visibility, verified=verified)
    return article


def set_state(session: Session, ticket: Ticket, state: str, actor: str = "system",
              **details: object) -> None:
    if ticket.state == state:
        return
    old, ticket.state = ticket.state, state
    if state.startswith("closed"):
        ticket.closed_at = utcnow()
    elif old.startswith("closed"):
        ticket.closed_at = None
    record(session, ticket, "state", actor, old=old, new=state, **details)


_ENVELOPE_FIELDS = tuple(f.name for f in fields(Envelope))
# `json.dumps`'s own text (ASCII, ", " and ": "), by an encoder made once: json.dumps
# builds its C encoder per call (issue 20: 7.3 -> 4.5 us an article's envelope)
_ENVELOPE_TEXT = json_encoder(ensure_ascii=True, separators=(", ", ": "))


def _envelope_json(envelope: Envelope) -> str:
    """`json.dumps(asdict(envelope))` without asdict's deep copy of every value."""
    return _ENVELOPE_TEXT({name: getattr(envelope, name) for name in _ENVELOPE_FIELDS})


def _from_text(mail: ParsedMail) -> str:
    addr = mail.from_addr or ""
    name = mail.from_name.replace('"', "'")
    return f'"{name}" <{addr}>' if name and addr else addr or name
