"""maildesk's own `customers` table: the first backend asked, and the row a first mail makes.

A new ticket's sender becomes a customer (SPEC 16) inside the ticket's transaction, so a
refused mail registers nobody and a rolled-back one leaves no row. The row is made with one
INSERT that ignores a duplicate address (`store.db.insert_ignore`): two first mails from one
sender in two processes both land, on one row. What a directory (SQL, LDAP) knows of the
sender fills the new row; a row the table has already is only completed, never overwritten
(the table comes first), and never written when nothing is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from maildesk.customers.record import CustomerRecord, usable_address
from maildesk.intake.message import ParsedMail
from maildesk.store.db import execute_core, insert_ignore_statement, rowcount
from maildesk.store.models import Customer, Ticket, utcnow

__all__ = ["GUESSED_LANGUAGES", "find", "is_registered", "language_of", "link_customer",
           "mail_language", "record_of", "remembered"]

# Languages a mail's text may be guessed in (stop word lists of maildesk.kb.text).
GUESSED_LANGUAGES = ("en", "es", "de", "fr", "it", "pt", "nl")
_LANGUAGE_TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*$")
NAME_MAX = 255
COMPANY_MAX = 191


class _Known(NamedTuple):
    """What the mail path reads of a customer row."""

    id: int
    registered: bool
    language: str | None
    name: str
    company: str | None


_KNOWN = "maildesk.customers.known"  # session.info: address -> _Known | None (no row)
_TABLE = cast(Table, Customer.__table__)
_READ = (select(_TABLE.c.id, _TABLE.c.registered, _TABLE.c.language, _TABLE.c.name,
                _TABLE.c.company).where(_TABLE.c.address == bindparam("address")))


@contextmanager
def remembered(session: Session) -> Iterator[None]:
    """Within the block, the rows read or made are remembered by address: a first mail
    reads its sender's row once (routing's `known_customer`, the ticket's link, the
    auto-response's language) instead of four times (issue 20). The pipeline opens it
    around one mail: inside that mail's transaction or savepoint, so nothing it
    remembers outlives a rollback."""
    if _KNOWN in session.info:
        yield
        return
    session.info[_KNOWN] = {}
    try:
        yield
    finally:
        session.info.pop(_KNOWN, None)


def _known(session: Session, address: str, *, fresh: bool = False) -> _Known | None:
    cache: dict[str, _Known | None] | None = session.info.get(_KNOWN)
    if cache is not None and not fresh and address in cache:
        return cache[address]
    row = execute_core(session, _READ, {"address": address}).first()
    known = None if row is None else _Known(row[0], bool(row[1]), row[2], row[3] or "",
                                            row[4])
    if cache is not None:
        cache[address] = known
    return known


def _remember(session: Session, address: str, known: _Known) -> None:
    cache: dict[str, _Known | None] | None = session.info.get(_KNOWN)
    if cache is not None:
        cache[address] = known


def language_of(session: Session, address: str) -> str | None:
    """The language of the customer with this (lowercase) address, None when unknown."""
    known = _known(session, address)
    return known.language if known is not None else None


def record_of(row: Customer) -> CustomerRecord:
    return CustomerRecord(address=row.address, name=row.name or None, company=row.company,
                          language=row.language, password_hash=row.password_hash,
                          company_admin=bool(row.company_admin), source="table")


def find(session: Session, address: str) -> CustomerRecord | None:
    """The table's customer with this address (any case), or None."""
    usable = usable_address(address)
    if usable is None:
        return None
    row = session.execute(select(Customer).where(Customer.address == usable)).scalar()
    return None if row is None else record_of(row)


def is_registered(session: Session, address: str) -> bool:
    """Whether the table holds this address as a registered (imported) customer."""
    usable = usable_address(address)
    if usable is None:
        return False
    known = _known(session, usable)
    return known is not None and known.registered


def mail_language(mail: ParsedMail, ticket_language: str | None) -> str | None:
    """The language a first mail says its sender writes: its Content-Language (a statement
    of the mail's own), else, only when the ticket has no language of its own (a rule's or
    its queue's), a guess from the text that says "don't know" rather than guess on little."""
    header = mail.header("Content-Language") or ""
    for tag in header.split(","):
        found = _LANGUAGE_TAG.match(tag.strip())
        if found:
            return found.group(1).lower()
    if ticket_language:
        return None
    from maildesk.kb.text import guess_language  # stop word lists: only for a new customer

    return guess_language(f"{mail.subject}\n{mail.body}", GUESSED_LANGUAGES)


def link_customer(session: Session, ticket: Ticket, mail: ParsedMail,
                  directory: CustomerRecord | None = None) -> int | None:
    """`ticket.customer_id`: the row of the ticket's customer, made on the first mail.
    `directory`: what a configured directory answered for this address (or None)."""
    address = usable_address(ticket.customer or "")
    if address is None:
        return None
    if directory is not None and usable_address(directory.address) != address:
        directory = None
    known = _known(session, address)
    if known is None:
        values = _new_row(address, ticket, mail, directory)
        result: Any = execute_core(session, insert_ignore_statement(session, Customer),
                                   values)
        if rowcount(result) == 1:  # made here: its id without reading it back
            known = _Known(int(result.inserted_primary_key[0]), False,
                           cast(str | None, values["language"]), cast(str, values["name"]),
                           cast(str | None, values["company"]))
            _remember(session, address, known)
        else:  # another transaction made it first
            known = _known(session, address, fresh=True)
            if known is None:
                raise RuntimeError(f"the customer row of {address} is not there")
    if directory is not None:
        known = _complete(session, known, directory)
        _remember(session, address, known)
    ticket.customer_id = known.id
    return known.id


def _new_row(address: str, ticket: Ticket, mail: ParsedMail,
             directory: CustomerRecord | None) -> dict[str, object]:
    now = utcnow()
    d = directory or CustomerRecord(address=address)
    name = d.name
    if not name and mail.from_addr == address:  # the display name of its own From
        name = " ".join(mail.from_name.split())
    return {
        "address": address,
        "name": (name or "")[:NAME_MAX],
        "company": d.company[:COMPANY_MAX] if d.company else None,
        "language": (d.language or mail_language(mail, ticket.language) or "")[:16] or None,
        "password_hash": None,  # never copied: the directory stays the one to ask
        "company_admin": False,
        "failed_logins": 0,
        "created_at": now,
        "updated_at": now,
    }


def _complete(session: Session, known: _Known, directory: CustomerRecord) -> _Known:
    """Fill what the row lacks from the directory; the table's own values stay. The row
    is loaded (and written) only when something is missing."""
    changes: dict[str, str] = {}
    if not known.name and directory.name:
        changes["name"] = directory.name[:NAME_MAX]
    if not known.company and directory.company:
        changes["company"] = directory.company[:COMPANY_MAX]
    if not known.language and directory.language:
        changes["language"] = directory.language[:16]
    if not changes:
        return known
    row = session.get(Customer, known.id)
    if row is None:
        return known
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    return known._replace(**changes)  # type: ignore[arg-type]
