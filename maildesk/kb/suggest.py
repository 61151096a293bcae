"""The knowledge base in a new ticket's auto-response (template variable `suggestions`).

Each suggestion is plain values for the template: name, title, a short excerpt and the
public link `{web.base_url}/kb/<name>` (empty without a base URL). Matching must never cost
the auto-response: a failure is logged and the mail goes out without suggestions.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from maildesk.core.tickets import record

if TYPE_CHECKING:
    from maildesk.config import Config
    from maildesk.intake.message import ParsedMail
    from maildesk.store.models import Ticket

__all__ = ["OFFERED", "entry_url", "offered", "suggestions_for"]

log = logging.getLogger("maildesk.kb")
OFFERED = "kb suggestions offered"  # the history event (metrics and /solved read it)


def entry_url(config: Config, name: str) -> str:
    base = config.web.base_url
    return f"{base.rstrip('/')}/kb/{name}" if base else ""


def suggestions_for(config: Config, ticket: Ticket, mail: ParsedMail | None,
                    language: str | None) -> list[dict[str, str]]:
    """What the auto-response of a new ticket offers; [] when nothing scores enough."""
    if config.kb.path is None or mail is None:
        return []
    from maildesk.kb.library import suggestions

    try:
        hits = suggestions(config, subject=mail.subject, body=mail.body, queue=ticket.queue,
                           language=ticket.language or language)
    except Exception:  # the knowledge base is a help, never a reason to lose the mail
        log.exception("knowledge base search failed for ticket %s", ticket.number)
        return []
    return [{"name": h.entry.name, "title": h.entry.title, "excerpt": h.entry.excerpt(),
             "url": entry_url(config, h.entry.name), "language": h.entry.language,
             "score": f"{h.score:.2f}"} for h in hits]


def offered(session: Session, ticket: Ticket, suggestions: object) -> None:
    """History of what an auto-response that went out offered."""
    if isinstance(suggestions, list) and suggestions:
        record(session, ticket, OFFERED, entries=[s["name"] for s in suggestions],
               scores=[s["score"] for s in suggestions])
