"""What every customer backend answers: one record per address, or "unknown", or "down".

The table (`customers`), a read-only CRM database and an LDAP directory all map their own
fields into `CustomerRecord`, so the rest of maildesk (routing's `known_customer`, the
auto-response language, the web's customer login and company view) never asks where a
customer came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from maildesk.errors import Unavailable

__all__ = ["Backend", "BackendDown", "CustomerRecord", "usable_address"]

_UNUSABLE = re.compile(r"[\x00-\x20\x7f]")  # controls and spaces (a regex: 20x a loop)


@dataclass(frozen=True)
class CustomerRecord:
    address: str  # lowercase
    name: str | None = None
    company: str | None = None
    language: str | None = None
    password_hash: str | None = None  # bcrypt, argon2 or crypt(3) SHA-512, never plain
    company_admin: bool = False  # may see the company's tickets on the web
    source: str = "table"  # which backend answered: table, sql, ldap


class BackendDown(Unavailable):
    """The backend could not answer now (connection refused, timeout): the customer is
    "unknown for now", which never refuses a mail (a queue taking only known customers
    defers it with a 4xx; every other queue takes it)."""


class Backend(Protocol):
    """A directory of customers outside maildesk's own table. Blocking: called from the
    ingest and HTTP worker threads, never on the event loop."""

    name: str

    def lookup(self, address: str) -> CustomerRecord | None:
        """The customer with this address (lowercase), None if the backend has none;
        raises BackendDown when it cannot answer."""
        ...


def usable_address(address: str) -> str | None:
    """The address as backends are asked (lowercase), or None when it cannot be anybody's:
    no @, control characters or spaces (a NUL matched an entry in slapd), over 320 bytes."""
    address = address.strip().lower()
    if "@" not in address or len(address) > 320:
        return None
    if _UNUSABLE.search(address):
        return None
    return address
