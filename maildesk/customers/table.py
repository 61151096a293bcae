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

from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk.customers.record import CustomerRecord, usable_address
from maildesk.intake.message import ParsedMail
from maildesk.store.db import insert_ignore
from maildesk.store.models import Customer, Ticket, utcnow

__all__ = ["GUESSED_LANGUAGES", "find", "is_registered", "link_customer", "mail_language",
           "record_of"]

# Languages a mail's text may be guessed in (stop word lists of maildesk.kb.text).
GUESSED_LANGUAGES = ("en", "es", "de", "fr", "it", "pt", "nl")
_LANGUAGE_TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*$")
NAME_MAX = 255
COMPANY_MAX = 191


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
    return bool(session.execute(select(Customer.registered)
                                .where(Customer.address == usable)).scalar())


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
    row = session.execute(select(Customer).where(Customer.address == address)).scalar()
    if row is None:
        insert_ignore(session, Customer, **_new_row(address, ticket, mail, directory))
        row = session.execute(select(Customer).where(Customer.address == address)).scalar_one()
    elif directory is not None:
        _complete(row, directory)
    ticket.customer_id = row.id
    return row.id


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


def _complete(row: Customer, directory: CustomerRecord) -> None:
    """Fill what the row lacks from the directory; the table's own values stay."""
    changed = False
    if not row.name and directory.name:
        row.name, changed = directory.name[:NAME_MAX], True
    if not row.company and directory.company:
        row.company, changed = directory.company[:COMPANY_MAX], True
    if not row.language and directory.language:
        row.language, changed = directory.language[:16], True
    if changed:
        row.updated_at = utcnow()
