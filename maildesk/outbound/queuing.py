"""Outbox rows in, in the transaction of the change that caused them (`enqueue`), and one
INSERT for all the rows of an event list (`together`, issue 20).

An incoming mail queues an auto-response and a notification per agent: 2.5 outbox INSERTs
per mail, each a round trip, and each row's id is wanted at once (its history entry and
its Message-ID index name it). Inside a `together` block (`dispatch` opens one) a row
that says what to do with its id (`then`) is kept instead, and the block's end writes
every kept row in one multi-row INSERT with RETURNING (SQLite 3.35+, PostgreSQL,
MariaDB 10.5+; `_insert_rows`), in the order queued, and then runs the `then`s and the
other deferred steps (`later`) in the order they came: the history reads as it did, row
by row.

Anything that must see the rows (another `enqueue` without `then`, a guarded failure's
row) writes the kept ones first (`write_kept`). An exception leaves the block without
writing: the transaction or savepoint it belonged to rolls back.

What the mails of a block share (the ticket's values for its templates: an auto-response
and the notifications of one mail) is made once in it (`shared`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from functools import cache, lru_cache
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import CursorResult, Insert, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from maildesk.config import Config, Queue
from maildesk.core.tickets import index_message_id
from maildesk.outbound.compose import ticket_context
from maildesk.outbound.render import check_address, clean_header
from maildesk.outbound.wire import wire_bytes
from maildesk.store.db import execute_core
from maildesk.store.lean import bind_processor, connection_of, driver_rows
from maildesk.store.models import OutboxMail, Ticket, utcnow

__all__ = ["Then", "enqueue", "later", "shared", "ticket_values", "together", "write_kept"]

T = TypeVar("T")


class Spec(Protocol):
    """What to send (outbound/deferred.py's Spec), as the outbox stores it."""

    subject: str

    def dumps(self) -> str: ...


Then = Callable[[list[int]], object]  # what to do with a queued mail's row ids

_KEPT = "maildesk.outbound.kept"  # session.info: the open block's _Kept
_TABLE = cast(Table, OutboxMail.__table__)
_INSERT_OUTBOX = insert(_TABLE)  # Core: no unit of work


@cache
def _insert_returning() -> Insert:
    """The INSERT of several rows at once (one statement: SQLAlchemy's "insertmanyvalues"),
    each id back beside its row's Message-ID and recipient, which tell the rows apart: a
    RETURNING that keeps the parameters' order costs a statement per row on SQLite."""
    return insert(_TABLE).returning(_TABLE.c.id, _TABLE.c.message_id, _TABLE.c.to_addr)


# The columns a queued row gives, in the order of `enqueue`'s dicts (the rest are NULL).
_COLUMNS = ("ticket_id", "kind", "mail_from", "rcpt_json", "to_addr", "subject", "message_id",
            "raw", "spec_json", "state", "attempts", "next_attempt_at", "created_at",
            "settle_failures")
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}
_CHUNK = 500  # rows a statement: 7,000 parameters, below SQLite's 32,766 and PostgreSQL's


def _insert_rows(session: Session, rows: list[dict[str, Any]]) -> list[Sequence[Any]]:
    """(id, message_id, to_addr) of the rows, written by one multi-row INSERT..RETURNING
    (per 500): the driver's own SQL, made once per row count, the values through the
    columns' own bind processors, on the connection's DBAPI cursor (`store.lean.driver_rows`).
    SQLAlchemy's insertmanyvalues wrote the same statement but compiled it and batched
    the parameters anew per call (issue 20: ~0.1 ms a mail)."""
    dialect = session.get_bind().dialect
    binds = _binds(dialect)
    if binds is None or set(rows[0]) != set(_COLUMNS):
        return [(r.id, r.message_id, r.to_addr)
                for r in execute_core(session, _insert_returning(), rows)]
    made: list[Sequence[Any]] = []
    for at in range(0, len(rows), _CHUNK):
        chunk = rows[at:at + _CHUNK]
        params = [value if process is None else process(value)
                  for row in chunk for name, process in binds
                  for value in (row[name],)]
        sql = _insert_sql(dialect.name, dialect.paramstyle, len(chunk))
        made += driver_rows(connection_of(session), sql, params)
    return made


@lru_cache(maxsize=8)
def _binds(dialect: Dialect) -> tuple[tuple[str, Any], ...] | None:
    """(column, bind processor) of `_COLUMNS`; None where `_insert_sql` does not apply."""
    if (dialect.name not in ("sqlite", "postgresql", "mysql", "mariadb")
            or not dialect.insert_returning or dialect.paramstyle not in _MARKS):
        return None  # MySQL: no RETURNING (the old way fails there as it always did)
    return tuple((name, bind_processor(_TABLE.c[name].type, dialect,
                                       _TABLE.c[name].type._cached_bind_processor(dialect)))
                 for name in _COLUMNS)


@lru_cache(maxsize=64)
def _insert_sql(dialect: str, paramstyle: str, n: int) -> str:
    """INSERT INTO outbox (...) VALUES (...), ... RETURNING id, message_id, to_addr."""
    mark = _MARKS[paramstyle]
    values = "(" + ", ".join([mark] * len(_COLUMNS)) + ")"
    return (f"INSERT INTO outbox ({', '.join(_COLUMNS)}) VALUES "
            f"{', '.join([values] * n)} RETURNING id, message_id, to_addr")




@dataclass
class _Kept:
    rows: list[dict[str, Any]] = field(default_factory=list)
    # in order: a mail's rows (how many, the ticket and Message-ID to index, its `then`),
    # or a deferred step of its own (a callable taking nothing)
    steps: list[tuple[int, Ticket | None, str, Then] | Callable[[], object]] = field(
        default_factory=list)
    made: dict[Hashable, Any] = field(default_factory=dict)  # `shared`'s values


@contextmanager
def together(session: Session) -> Iterator[None]:
    """Within the block, mails queued with a `then` go into one INSERT at its end."""
    if _KEPT in session.info:  # nested: the outer block writes them
        yield
        return
    session.info[_KEPT] = _Kept()
    try:
        yield
        write_kept(session)
    finally:
        session.info.pop(_KEPT, None)


def later(session: Session, step: Callable[[], object]) -> None:
    """Run `step` after the rows kept so far (at once outside a block): a history entry
    that must come after theirs."""
    kept: _Kept | None = session.info.get(_KEPT)
    if kept is None or not kept.steps:
        step()
    else:
        kept.steps.append(step)


def shared(session: Session, key: Hashable, make: Callable[[], T]) -> T:
    """`make()`, once per `together` block and `key` (outside one, each time): a value the
    mails of the block share, which none of them changes. The key names what it is made
    of; the objects it names live as long as the block (the events hold them)."""
    kept: _Kept | None = session.info.get(_KEPT)
    if kept is None:
        return make()
    if key not in kept.made:
        kept.made[key] = make()
    return cast(T, kept.made[key])


def ticket_values(session: Session, config: Config, ticket: Ticket, queue: Queue | None
                  ) -> dict[str, object]:
    """`compose.ticket_context`, made once for the mails a block queues about a ticket (a
    new ticket's auto-response and its notifications: issue 20, ~11 us a call; nothing
    changes the ticket while they are queued). Callers copy it before they add to it; the
    dicts inside it are shared, and only ever written to JSON."""
    return shared(session, ("ticket_context", id(ticket), id(queue)),
                  lambda: ticket_context(config, ticket, queue))


def write_kept(session: Session) -> None:
    """Write the kept rows (one statement) and run the kept steps, in their order."""
    kept: _Kept | None = session.info.get(_KEPT)
    if kept is None or not kept.steps:
        return
    rows, steps = kept.rows, kept.steps
    kept.rows, kept.steps = [], []
    if len(rows) == 1:
        result = cast(CursorResult[Any], execute_core(session, _INSERT_OUTBOX, rows[0]))
        ids = [int(cast(Any, result.inserted_primary_key)[0])]
    elif rows:
        made = {(message_id, to_addr): int(row_id)
                for row_id, message_id, to_addr in _insert_rows(session, rows)}
        ids = [made[(r["message_id"], r["to_addr"])] for r in rows]
        if len(made) != len(rows):
            raise RuntimeError(f"outbox: {len(rows)} rows written, {len(made)} ids back")
    else:
        ids = []
    at = 0
    for step in steps:
        if callable(step):
            step()
            continue
        count, ticket, message_id, then = step
        mine, at = ids[at:at + count], at + count
        if ticket is not None and mine:
            index_message_id(session, ticket, message_id, "out", mine[0])
        then(mine)


# Pure functions of their text, cached: an agent's address comes again in every mail, a
# subject in each of a mail's notifications (issue 20).
_clean_subject = lru_cache(maxsize=256)(clean_header)


@lru_cache(maxsize=1024)
def _rcpt_json(address: str) -> str:
    return json.dumps([address])


def enqueue(session: Session, config: Config, *, ticket: Ticket | None, kind: str,
            recipients: list[str], message: Message | None = None,
            spec: Spec | None = None, message_id: str | None = None,
            then: Then | None = None) -> list[int]:
    """One queued row per recipient, its id returned; the Message-ID goes into the
    ticket's index. Either the built `message`, or a `spec` (what to send, with its
    `message_id`) that the sender renders (outbound/deferred.py).

    With `then`, inside a `together` block, the rows are kept and [] is returned: the
    block's end writes them and calls `then` with their ids (outside a block, at once).

    The envelope sender is the bounce address; the sender makes it the row's (signed)
    VERP address when it sends. Rows are cached Core INSERTs, not the ORM's unit of work
    (a flush and an UPDATE per row cost a sixth of an ingest); an answer stays an ORM
    object, because the timers see the agent's answer among the session's new objects."""
    if message is not None:
        raw, spec_json = wire_bytes(message), None
        message_id = str(message["Message-ID"]).strip().strip("<>")
        subject = str(message["Subject"] or "")
    elif spec is not None and message_id:
        raw, spec_json = b"", spec.dumps()
        subject = _clean_subject(spec.subject) or "(no subject)"
    else:
        raise TypeError("enqueue needs a message, or a spec and its message_id")
    addresses: list[str] = []
    seen: set[str] = set()
    for rcpt in recipients:
        address = check_address(rcpt)
        if address.lower() not in seen:
            seen.add(address.lower())
            addresses.append(address)
    if ticket is not None and ticket.id is None:
        session.flush()
    ticket_id = ticket.id if ticket is not None else None
    now = utcnow()
    rows = [dict(ticket_id=ticket_id, kind=kind, mail_from=config.outbound.bounce_address,
                 rcpt_json=_rcpt_json(address), to_addr=address, subject=subject,
                 message_id=message_id, raw=raw, spec_json=spec_json, state="queued",
                 attempts=0, next_attempt_at=now, created_at=now, settle_failures=0)
            for address in addresses]
    kept: _Kept | None = session.info.get(_KEPT)
    if then is not None and kept is not None and kind != "answer":
        kept.rows.extend(rows)
        kept.steps.append((len(rows), ticket, message_id, then))
        return []
    write_kept(session)  # what was queued before this comes before it
    ids: list[int] = []
    for values in rows:
        if kind == "answer":
            row = OutboxMail(**values)
            session.add(row)
            session.flush()
            ids.append(row.id)
        else:
            result = cast(CursorResult[Any], execute_core(session, _INSERT_OUTBOX, values))
            ids.append(int(cast(Any, result.inserted_primary_key)[0]))
    if ticket is not None and ids:
        index_message_id(session, ticket, message_id, "out", ids[0])
    if then is not None:
        then(ids)
    return ids
