"""A customer's password login (SPEC 15/16), checked where the customer's password lives:
maildesk's customer table first, then the `customers:` backends in the order written.

- The table: its `password_hash` (maildesk.customers.passwords' forms); after a right
  password, a hash of another form (or weaker argon2) is replaced by argon2id.
- A SQL backend: the CRM's `password_hash` column, when `columns` maps one.
- An LDAP backend: a simple bind as the customer's entry (found by the configured filter),
  so the directory checks its own password whatever its scheme; an empty password is never
  sent (an empty simple bind is an anonymous bind, which succeeds).

The first source that has a password for the address decides; CRM answers are asked fresh
(not from the lookup cache), so a password changed in the CRM counts at once. Agents never
sign in with a password (they keep the mailed link), even when a table row has a hash.

The failed-login counter and the lock (maildesk.customers.passwords' rule, with
`web.password_failures` and `web.password_lockout`) live on the customer's table row; a
customer only a CRM knows gets a row (filled from the CRM's record) at the first wrong
password. Every refusal costs the time of a password check (a dummy argon2id check
when there is nothing to check), and the caller answers every refusal the same way, so
neither the answer nor its timing says whether the address has an account, or is locked.

Blocking: run it on a worker thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk.config import Config
from maildesk.customers.directory import backends_from_config
from maildesk.customers.passwords import (
    Attempts,
    after_failure,
    dummy_verify,
    hash_password,
    is_locked,
    needs_rehash,
    verify,
)
from maildesk.customers.record import Backend, BackendDown, CustomerRecord, usable_address
from maildesk.store.db import Database, insert_ignore
from maildesk.store.models import Customer, utcnow

if TYPE_CHECKING:
    from maildesk.customers.ldap import LdapBackend  # imports ldap3: only when one is used

__all__ = ["Verdict", "check_password"]

log = logging.getLogger("maildesk.customers")


@dataclass(frozen=True)
class Verdict:
    """`ok`, and why not (for the log only; the person is told nothing more than no):
    wrong, locked, unknown (no password anywhere), agent, down (a backend failed)."""

    ok: bool
    why: str
    address: str = ""


def check_password(db: Database, config: Config, address: str, password: str,
                   now: datetime | None = None) -> Verdict:
    now = now or utcnow()
    usable = usable_address(address)
    if usable is None or not password:
        dummy_verify(password)
        return Verdict(False, "unknown")
    address = usable
    if config.agent(address) is not None:
        dummy_verify(password)
        return Verdict(False, "agent", address)
    with db.reading() as session:
        row = session.execute(select(Customer).where(Customer.address == address)
                              ).scalar_one_or_none()
        state = Attempts(row.failed_logins or 0, row.locked_until) if row else Attempts()
        stored = row.password_hash if row else None
    if is_locked(state, now):
        dummy_verify(password)
        return Verdict(False, "locked", address)
    record: CustomerRecord | None = None
    if stored:
        ok, known = verify(password, stored), True
    else:
        try:
            ok, record = _directories(config, address, password)
            known = record is not None
        except BackendDown as exc:
            log.warning("password login of <%s>: customer backend down: %s", address, exc)
            dummy_verify(password)
            return Verdict(False, "down", address)
    if not known:
        return Verdict(False, "unknown", address)
    # maildesk's own table: a right password of an older form is stored again as argon2id
    # (a CRM's or directory's password is theirs, never rewritten)
    rehashed = hash_password(password) if ok and stored and needs_rehash(stored) else None
    _record(db, config, address, ok, now, record, rehashed, stored)
    return Verdict(ok, "ok" if ok else "wrong", address)


def _directories(config: Config, address: str,
                 password: str) -> tuple[bool, CustomerRecord | None]:
    """(password right, the record of the backend that has a password for the address)."""
    from maildesk.customers.ldap import LdapBackend

    for backend in backends_from_config(config):
        inner: Backend = getattr(backend, "backend", backend)  # past the lookup cache
        if isinstance(inner, LdapBackend):
            entry = inner.entry(address)
            if entry is not None and entry[0]:
                return _bind(inner, entry[0], password), entry[1]
            continue
        record = inner.lookup(address)
        if record is not None and record.password_hash:
            return verify(password, record.password_hash), record
    dummy_verify(password)
    return False, None


def _bind(backend: LdapBackend, dn: str, password: str) -> bool:
    """A simple bind as `dn`: True when the directory accepts the password."""
    import ldap3
    from ldap3.core.exceptions import LDAPException

    from maildesk.customers.ldap import _discard

    conn = ldap3.Connection(backend.server, user=dn, password=password, read_only=True,
                            raise_exceptions=False,
                            receive_timeout=max(1, round(backend.timeout)))
    try:
        if conn.bind():
            return True
        result = (conn.result or {}).get("result")
    except LDAPException as exc:
        raise BackendDown(str(exc)) from exc
    finally:
        _discard(conn)
    if result == 49:  # invalidCredentials
        return False
    raise BackendDown(f"bind as the customer refused: {conn.result}")


def _record(db: Database, config: Config, address: str, ok: bool, now: datetime,
            directory: CustomerRecord | None, rehashed: str | None = None,
            verified: str | None = None) -> None:
    """The counter after this attempt: reset by a right password, one more (or the lock)
    after a wrong one; the row is read under its lock so concurrent attempts all count.
    A row made here takes name, company and language from the directory's record (as a
    first mail's row does; the password and the admin flag stay the directory's). A right
    password's `rehashed` form replaces the table's hash it was `verified` against (unless
    that changed meanwhile)."""

    limit = config.web.password_failures

    def work(session: Session) -> None:
        row = _locked_row(session, address)
        if row is None and not ok:  # a customer only a CRM knows: a row to count on
            d = directory or CustomerRecord(address=address)
            insert_ignore(session, Customer, address=address, name=(d.name or "")[:255],
                          company=d.company[:191] if d.company else None,
                          language=d.language[:16] if d.language else None,
                          created_at=now, updated_at=now, failed_logins=0,
                          company_admin=False)
            row = _locked_row(session, address)
        if row is None:
            return
        if ok:
            if row.failed_logins or row.locked_until is not None:
                row.failed_logins, row.locked_until = 0, None
            if rehashed is not None and row.password_hash == verified:  # not changed since
                row.password_hash, row.updated_at = rehashed, now
            return
        state = after_failure(Attempts(row.failed_logins or 0, row.locked_until), now,
                              limit, timedelta(seconds=config.web.password_lockout))
        if state.locked_until is not None and state.locked_until != row.locked_until:
            log.warning("customer <%s> locked until %s after %d wrong passwords", address,
                        state.locked_until.isoformat(timespec="seconds"), limit)
        row.failed_logins, row.locked_until = state.failed, state.locked_until

    db.run(work)


def _locked_row(session: Session, address: str) -> Customer | None:
    return session.execute(select(Customer).where(Customer.address == address)
                           .with_for_update()).scalar_one_or_none()
