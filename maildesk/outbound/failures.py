"""A mail maildesk could not build: loud in the log, a failed row in the outbox, a line in
the ticket's history, and the ingestion of the mail that caused it goes on.

Before, only the history said so, and an admin never looked there (issue 11). The failed
row is what `maildesk outbox --json` shows with its reason; it has no bytes and is never
sent. Database errors are not caught: the whole change rolls back and the mail is spooled.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import jinja2
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from maildesk.config import Config
from maildesk.core.tickets import record
from maildesk.outbound.queuing import write_kept
from maildesk.outbound.render import InvalidAddress, new_message_id
from maildesk.store.models import OutboxMail, Ticket, utcnow

__all__ = ["BUILD_FAILED", "guarded"]

log = logging.getLogger("maildesk.outbox")
# An admin's template or a customer's address: the message says it all, no traceback.
_EXPECTED = (jinja2.TemplateError, InvalidAddress, ValueError, UnicodeError)

BUILD_FAILED = "not built"  # last_error prefix of a row that never had bytes


def guarded(session: Session, config: Config, ticket: Ticket, *, what: str, kind: str,
            to: str, work: Callable[[], None]) -> bool:
    """Run the queuing of one mail (`what`: "auto-response", "notification"); a broken
    template, a bad address or a bug costs that mail only. Each piece of work renders and
    checks everything before its first write, so no savepoint is needed (one per mail
    cost a fifth of the pipeline). True when the mail was queued."""
    try:
        work()
        return True
    except SQLAlchemyError:
        raise
    except Exception as exc:
        write_kept(session)  # the mails queued before this one keep their place
        reason = f"{type(exc).__name__}: {exc}"[:500]
        log.error("ticket %s: %s to %s failed: %s", ticket.number, what, to or "-", reason,
                  exc_info=not isinstance(exc, _EXPECTED), extra={"outbound_failure": True})
        row = OutboxMail(
            ticket_id=ticket.id, kind=kind, mail_from="", rcpt_json=json.dumps([to] if to
                                                                                 else []),
            to_addr=to[:512], subject=ticket.title[:900], raw=b"",
            message_id=new_message_id(config.instance.domain), state="failed", attempts=0,
            last_error=f"{BUILD_FAILED}: {reason}", next_attempt_at=utcnow(),
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        record(session, ticket, f"{what} failed", to=to, outbox=row.id, error=reason)
        return False
