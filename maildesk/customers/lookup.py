"""Who a sender is: maildesk's table first, then the configured directories (SQL, LDAP) in
the order the config lists them (SPEC 16; `require_known_customer`, the new customer's row).

The directories are asked *before* the mail's transaction (`ask_directories`), on the
ingest or HTTP worker thread: a slow CRM then never holds the database's writer lock, and
its wait is bounded by the cache in front of it (maildesk.customers.cache). A directory
that cannot answer makes the sender "unknown for now": mail is still accepted, the cache
logs the outage once and counts every failure.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from maildesk.customers.record import BackendDown, CustomerRecord, usable_address

if TYPE_CHECKING:
    from maildesk.config.model import Config

__all__ = ["ask_directories", "directories_answer", "find", "is_known"]

log = logging.getLogger("maildesk.customers")


def ask_directories(config: Config, address: str | None) -> CustomerRecord | None:
    """The first configured directory's record for `address`, None when none has one (or
    none could answer now, or none is configured). Blocking; call it outside a transaction."""
    return directories_answer(config, address)[0]


def directories_answer(config: Config,
                       address: str | None) -> tuple[CustomerRecord | None, bool]:
    """`ask_directories`, and whether a directory could not answer now (down, or over the
    wait budget): a queue that takes only known customers then answers 4xx, not 5xx, so
    the sender's MTA retries instead of bouncing a customer the CRM would have known."""
    if not config.customers or not address or usable_address(address) is None:
        return None, False
    from maildesk.customers.directory import backends_from_config

    down = False
    for backend in backends_from_config(config):
        try:
            record = backend.lookup(address)
        except BackendDown as exc:  # logged once per outage by the cache; here per mail
            log.debug("customer %s unknown for now: %s", address, exc)
            down = True
            continue
        if record is not None:
            return record, False
    return None, down


def find(session: Session, address: str | None,
         directory: CustomerRecord | None = None) -> CustomerRecord | None:
    """The table's record, else what the directories answered (`ask_directories`)."""
    if not address:
        return None
    from maildesk.customers.table import find as in_table

    return in_table(session, address) or directory


def is_known(session: Session, address: str | None,
             directory: CustomerRecord | None = None) -> bool:
    """For `require_known_customer` and the `known_customer` rule condition: a registered
    row of the table (imported), else a directory's record. The row a first mail made is
    not enough, or one mail to an open queue would open every closed one to its sender."""
    if not address:
        return False
    from maildesk.customers.table import is_registered

    return is_registered(session, address) or directory is not None
