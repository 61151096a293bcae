"""Reads over HTTP (blocking; on the HTTP thread pool): the ticket list with filters,
search and cursor, one ticket as `show --json` prints it, an attachment's bytes; and the
ticket lookup and ETag check the writes share.

Every read goes through the core's queries (`maildesk.core.queries`) on the runtime the
request captured (`ctx.rt`); this module adds only what HTTP decides: which queues a token
sees (the queries' gate), the cursor, and the status codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from maildesk.core import queries
from maildesk.core.queries import Gate
from maildesk.http.errors import ApiError
from maildesk.http.tokens import Caller

if TYPE_CHECKING:
    from maildesk.runtime import Runtime
    from maildesk.store.models import Ticket

__all__ = ["attachment", "check_etag", "get_ticket", "list_tickets", "locked_ticket"]


def list_tickets(rt: Runtime, caller: Caller, *, queue: str | None, state: str | None,
                 customer: str | None, q: str | None, limit: int,
                 cursor: str | None) -> tuple[list[dict[str, object]], str | None]:
    """Oldest first by ticket id (stable while tickets are added); the cursor is the last
    id of the page, opaque to the client."""
    if queue is not None and not caller.sees(queue):
        raise ApiError(403, f"token {caller.name!r} may not read queue {queue}")
    queues = [queue] if queue is not None else (caller.queues or None)
    rows, last = queries.ticket_page(rt.db, after=_cursor(cursor), limit=limit, queues=queues,
                                     state=state, customer=customer, search=q or None)
    return rows, (_encode(last) if last is not None else None)


def _encode(ticket_id: int) -> str:
    return str(ticket_id)


def _cursor(cursor: str | None) -> int:
    """The position after which the next page starts (a ticket id; the schema allows
    digits only, so any cursor is a valid position)."""
    return int(cursor) if cursor else 0


def _gate(caller: Caller) -> Gate:
    """404 for no such ticket, 403 for one outside the token's queues."""
    def check(number: str, queue: str | None) -> None:
        if queue is None:
            raise ApiError(404, f"no ticket {number}")
        if not caller.sees(queue):
            raise ApiError(403, f"ticket {number} is in queue {queue}, outside token "
                                f"{caller.name!r}'s queues")
    return check


def get_ticket(rt: Runtime, caller: Caller, number: str) -> tuple[dict[str, object], str]:
    found = queries.read_ticket(rt.db, number, _gate(caller))
    if found is None:
        raise ApiError(404, f"no ticket {number}")
    return found


def locked_ticket(session: Session, caller: Caller, number: str) -> Ticket:
    """The ticket for a write, row-locked: a concurrent writer waits and then sees this
    one's change."""
    ticket = queries.locked_ticket(session, number, _gate(caller))
    assert ticket is not None  # the gate refuses a missing one
    return ticket


def check_etag(session: Session, ticket: Ticket, if_match: str | None) -> None:
    """409 when the client's copy is older than the ticket: another writer won the race
    (SPEC 14's status for it; the ETag in the answer is the ticket's now)."""
    if if_match is None or if_match.strip() == "*":
        return
    current = queries.etag(session, ticket)
    wanted = {t.strip().removeprefix("W/") for t in if_match.split(",")}
    if current not in wanted:
        raise ApiError(409, f"ticket {ticket.number} changed since you read it (ETag is now "
                            f"{current}); read it again and retry",
                       headers={"ETag": current})


def attachment(rt: Runtime, caller: Caller, number: str,
               digest: str) -> tuple[bytes, str, str]:
    found = queries.read_attachment(rt.db, rt.store, number, digest, _gate(caller))
    if found is None:
        raise ApiError(404, f"ticket {number} has no attachment {digest}")
    return found
