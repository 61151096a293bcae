"""One-time login links (SPEC 15) and the login rate limits, in the database so they hold
across several daemons on one database. Blocking: on the HTTP thread pool.

A link is 256 random bits; the row keeps only their sha256, the address, and when it
expires (15 minutes) or was used. Using it is one conditional UPDATE whose rowcount says
whether this request won: a link works once even when two daemons race for it. Opening the
link does not use it (mail scanners fetch every link): the page it shows has a button.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from maildesk.config import Config
from maildesk.core.queries import has_tickets
from maildesk.store.db import Database, rowcount
from maildesk.store.models import Customer, WebAttempt, WebLoginLink, utcnow

__all__ = ["LINK_LIFETIME", "consume", "identify", "over_limit", "request_link",
           "request_link_logged"]

log = logging.getLogger("maildesk.http.web")

LINK_LIFETIME = timedelta(minutes=15)
WINDOW = timedelta(minutes=15)
PER_ADDRESS = 5  # links mailed to one address per WINDOW
PER_CLIENT = 30  # login requests (links and passwords) from one client per WINDOW


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def identify(session: Session, config: Config, address: str) -> str | None:
    """`agent` for an address of the config's agents, `customer` for anyone with tickets
    or a customer record, None for nobody we know."""
    address = address.strip().lower()
    if not address or "@" not in address:
        return None
    if config.agent(address) is not None:
        return "agent"
    if has_tickets(session, address):
        return "customer"
    if session.execute(select(Customer.id).where(Customer.address == address)).first():
        return "customer"
    return None


def over_limit(db: Database, key: str, limit: int) -> bool:
    """Count one attempt under `key`; True when there were already `limit` in WINDOW."""
    now = utcnow()
    key = key[:191]
    with db.transaction() as session:
        seen = session.execute(select(func.count()).select_from(WebAttempt).where(
            WebAttempt.key == key, WebAttempt.at > now - WINDOW)).scalar() or 0
        if seen >= limit:
            return True
        session.add(WebAttempt(key=key, at=now))
    return False


def request_link(db: Database, config: Config, address: str, base_url: str,
                 lang: str) -> bool:
    """Mail a link to `address` when it is an agent's or a customer's and its limit allows;
    nothing otherwise. The caller answers the same either way (and before this runs)."""
    address = address.strip().lower()
    if over_limit(db, f"address:{address}", PER_ADDRESS):
        log.info("web login: link limit reached for <%s>", address)
        return False
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with db.transaction() as session:
        session.execute(delete(WebLoginLink).where(WebLoginLink.expires_at < now - WINDOW))
        session.execute(delete(WebAttempt).where(WebAttempt.at < now - 4 * WINDOW))
        if identify(session, config, address) is None:
            return False
        session.add(WebLoginLink(token_hash=_hash(token), address=address, created_at=now,
                                 expires_at=now + LINK_LIFETIME))
        from maildesk.http.web.mails import login_mail

        login_mail(session, config, address, f"{base_url.rstrip('/')}/login/{token}", lang)
    return True


def request_link_logged(db: Database, config: Config, address: str, base_url: str,
                        lang: str) -> None:
    """`request_link` after the answer went out: a failure is logged, never shown."""
    try:
        request_link(db, config, address, base_url, lang)
    except Exception:
        log.exception("web login: could not mail a link to <%s>", address)


def consume(db: Database, token: str) -> str | None:
    """The address the link was for, if this request is the one that used it."""
    if not token or len(token) > 100:
        return None
    now = utcnow()
    digest = _hash(token)
    with db.transaction() as session:
        won = rowcount(session.execute(
            update(WebLoginLink)
            .where(WebLoginLink.token_hash == digest, WebLoginLink.used_at.is_(None),
                   WebLoginLink.expires_at > now)
            .values(used_at=now)))
        if won != 1:
            return None
        address: str = session.execute(select(WebLoginLink.address).where(
            WebLoginLink.token_hash == digest)).scalar_one()
        return address
