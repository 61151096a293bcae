"""Which ticket a mail belongs to (SPEC 4). First hit wins:

1. In-Reply-To / References naming a Message-ID maildesk received or sent for a ticket
   (an id we only received must come from a participant: ids of inbound mail travel
   further than ours do);
2. a reply token in a sub-address (`support+TOKEN@`) or in a Message-ID we sent;
3. the subject tag `[Ticket#N]` (or OTRS's unbracketed `Ticket#: N`, `Ticket#N`), only when
   the sender is a participant; a stranger quoting a tag gets a new ticket linked to the
   old one;
4. otherwise a new ticket.
Merged tickets hand their mail on to the ticket they were merged into.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state

from maildesk.config import Config
from maildesk.intake.message import Envelope, ParsedMail
from maildesk.marks import loose_tag_pattern, subject_tag, tag_pattern
from maildesk.store.db import execute_core
from maildesk.store.models import Article, MessageIdRow, Ticket
from maildesk.store.rows import loaded_objects, table_columns
from maildesk.tokens import TokenRef, find_token, verify_token

__all__ = [
    "Thread",
    "find_ticket",
    "is_participant",
    "loose_tag_pattern",
    "subject_tag",
    "tag_pattern",
]


# Built once: a new statement per mail cost its construction and cache key every time.
# Core statements of the ticket's columns, its objects made by `store.rows.loaded_objects`
# (issue 20: `Session.execute` of the ORM's `select(..., Ticket)` cost ~100 us of a
# reply's ~130 us lookup); the ORM's own (`_ORM_*`) when the session holds a ticket
# expired.
_M = cast(Table, MessageIdRow.__table__)
_T = cast(Table, Ticket.__table__)
_BY_MESSAGE_ID = (select(_M.c.message_id, _M.c.direction, *table_columns(Ticket))
                  .join(_T, _T.c.id == _M.c.ticket_id)
                  .where(_M.c.message_id.in_(bindparam("ids", expanding=True))))
# One id (a reply's In-Reply-To, its References' last): an expanding IN rewrites its SQL
# at every execution, ~20 us of the statement's ~130.
_BY_ONE_MESSAGE_ID = (select(_M.c.message_id, _M.c.direction, *table_columns(Ticket))
                      .join(_T, _T.c.id == _M.c.ticket_id)
                      .where(_M.c.message_id == bindparam("id")))
_BY_NUMBER = select(*table_columns(Ticket)).where(_T.c.number == bindparam("number"))
_ORM_BY_MESSAGE_ID = (select(MessageIdRow.message_id, MessageIdRow.direction, Ticket)
                      .join(Ticket, Ticket.id == MessageIdRow.ticket_id)
                      .where(MessageIdRow.message_id.in_(bindparam("ids", expanding=True))))
_ORM_BY_ONE_MESSAGE_ID = (select(MessageIdRow.message_id, MessageIdRow.direction, Ticket)
                          .join(Ticket, Ticket.id == MessageIdRow.ticket_id)
                          .where(MessageIdRow.message_id == bindparam("id")))
_ORM_BY_NUMBER = select(Ticket).where(Ticket.number == bindparam("number"))


def _by_message_id(session: Session, wanted: list[str]) -> list[tuple[str, str, Ticket]]:
    """(Message-ID, direction, ticket) of the index rows of these ids."""
    core, orm, params = ((_BY_ONE_MESSAGE_ID, _ORM_BY_ONE_MESSAGE_ID, {"id": wanted[0]})
                         if len(wanted) == 1 else
                         (_BY_MESSAGE_ID, _ORM_BY_MESSAGE_ID, {"ids": wanted}))
    if session.autoflush:  # what the ORM's query did first
        session.flush()
    rows = execute_core(session, core, params).all()
    tickets = loaded_objects(session, Ticket, rows, 2)
    if tickets is None:
        return [(mid, direction, ticket)
                for mid, direction, ticket in session.execute(orm, params).all()]
    return [(row[0], row[1], ticket) for row, ticket in zip(rows, tickets, strict=True)]


def _by_number(session: Session, number: str) -> Ticket | None:
    """The ticket with this number (`scalar_one_or_none` of the ORM's query)."""
    if session.autoflush:
        session.flush()
    row = execute_core(session, _BY_NUMBER, {"number": number}).one_or_none()
    if row is None:
        return None
    tickets = loaded_objects(session, Ticket, [row])
    if tickets is None:
        return session.execute(_ORM_BY_NUMBER, {"number": number}).scalar_one_or_none()
    return tickets[0]


@dataclass
class Thread:
    ticket: Ticket | None
    via: str  # message-id | token | subject | new
    linked_to: Ticket | None = None  # a stranger quoted this ticket's tag or id
    token: TokenRef | None = None


def find_ticket(session: Session, config: Config, secret: bytes, mail: ParsedMail,
                envelope: Envelope) -> Thread:
    sender = (mail.from_addr or envelope.sender or "").lower()
    stranger_of: Ticket | None = None

    ids = [i[:191] for i in (mail.in_reply_to + list(reversed(mail.references))) if i]
    if ids:
        # The tickets come along (one statement, not one more per ticket): `_survivor`
        # finds them in the session.
        wanted = list(dict.fromkeys(ids[:200]))  # an id asked for twice finds its rows once
        rows = _by_message_id(session, wanted)
        order = {mid: n for n, mid in enumerate(ids)}
        for _mid, direction, found in sorted(rows, key=lambda r: order.get(r[0], 1 << 30)):
            ticket = _survivor(session, found.id, found)
            if ticket is None:
                continue
            if direction == "out" or is_participant(session, config, ticket, sender):
                return Thread(ticket, "message-id")
            stranger_of = stranger_of or ticket

    token_ref = _token(config, secret, mail, envelope)
    if token_ref is not None:
        ticket = _survivor(session, token_ref.ticket_id)
        if ticket is not None:
            return Thread(ticket, "token", token=token_ref)

    hook = config.instance.ticket_hook
    subject = mail.subject or ""
    m = tag_pattern(hook).search(subject) or loose_tag_pattern(hook).search(subject)
    if m:
        ticket = _by_number(session, m.group(1))
        if ticket is not None:
            ticket = _survivor(session, ticket.id, ticket)
        if ticket is not None:
            if is_participant(session, config, ticket, sender):
                return Thread(ticket, "subject")
            stranger_of = stranger_of or ticket

    return Thread(None, "new", linked_to=stranger_of)


def is_participant(session: Session, config: Config, ticket: Ticket, address: str) -> bool:
    """The customer, a cc of the ticket, an agent, or someone the customer wrote along with."""
    address = address.lower()
    if not address:
        return False
    if address == ticket.customer or address in ticket.cc or config.agent(address) is not None:
        return True
    for to_json, cc_json in session.execute(
        select(Article.to_json, Article.cc_json).where(
            Article.ticket_id == ticket.id, Article.sender_type == "customer"
        )
    ):
        if address in json.loads(to_json) or address in json.loads(cc_json):
            return True
    return False


def _survivor(session: Session, ticket_id: int, found: Ticket | None = None) -> Ticket | None:
    """The ticket with this id, or the one it was merged into. `found`: that ticket as a
    look-up just loaded it, which `session.get` would return (it is the identity map's,
    not expired: `get` would refresh an expired one); issue 20: `get` cost ~30 us a reply
    in the pipeline (4 us hot) to find the object at hand."""
    ticket: Ticket | None
    if found is not None and _current(session, found):
        ticket = found
    else:
        ticket = session.get(Ticket, ticket_id)
    for _ in range(20):  # merged chains are short; the bound keeps a cycle harmless
        if ticket is None or ticket.merged_into_id is None:
            return ticket
        ticket = session.get(Ticket, ticket.merged_into_id)
    return ticket


def _current(session: Session, ticket: Ticket) -> bool:
    """`session.get(Ticket, ticket.id) is ticket` without a query: the session's identity
    map holds this very object under its key, and it is not expired."""
    state = instance_state(ticket)
    return (state.key is not None and not state.expired
            and session.identity_map.get(state.key) is ticket)


def _token(config: Config, secret: bytes, mail: ParsedMail, envelope: Envelope) -> TokenRef | None:
    agents = [a.address for a in config.agents]
    candidates: list[str] = []
    for addr in list(envelope.recipients) + mail.to + mail.cc:
        local = addr.partition("@")[0]
        if "+" in local and config.queue_for_address(addr) is not None:
            candidates.append(local.split("+", 1)[1])
    for mid in mail.in_reply_to + mail.references:
        token = find_token(mid)
        if token:
            candidates.append(token)
    for candidate in candidates:
        ref = verify_token(secret, candidate, agents)
        if ref is not None:
            return ref
    return None
