"""What every outgoing mail shares: header presets, the tagged subject, the sender, the
language, and the ticket as templates see it.

Functions take the config (and the session where they read) and nothing else: outbound
never reaches for the process's runtime, so the same code serves mail, API and timers.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from maildesk.config import Agent, Config, Queue
from maildesk.customers.table import language_of
from maildesk.marks import REPLY_PREFIX, loop_value, subject_tag, tag_pattern
from maildesk.outbound.render import clean_header
from maildesk.store.models import Ticket
from maildesk.tokens import make_token

__all__ = [
    "AUTO_GENERATED",
    "AUTO_REPLIED",
    "PERSONAL",
    "agent_language",
    "auto_headers",
    "customer_language",
    "from_queue",
    "queue_agents",
    "reply_address",
    "reply_token",
    "ticket_context",
    "ticket_subject",
]

# Header presets, the one place they are written (RFC 3834; Microsoft's suppress header).
# An agent's answer is PERSONAL: a mail from a person, which the customer's robots may answer.
AUTO_REPLIED = "auto-replied"  # an answer to a mail: auto-responses
AUTO_GENERATED = "auto-generated"  # made by maildesk on its own: notifications, transcripts
PERSONAL = None


def auto_headers(config: Config, preset: str | None) -> dict[str, str]:
    """The headers of a machine-made mail, so robots never answer it and a copy that comes
    back is recognised as ours (X-Loop)."""
    if preset is None:
        return {}
    return {"Auto-Submitted": preset, "X-Auto-Response-Suppress": "All",
            "X-Loop": loop_value(config)}


def customer_language(session: Session, config: Config, ticket: Ticket,
                      queue: Queue | None, address: str | None = None) -> str:
    """The customer's language where known, else the ticket's, the queue's, the default."""
    address = (address or ticket.customer or "").lower()
    if address:
        lang = language_of(session, address)  # remembered when the mail just read the row
        if lang:
            return lang
    return ticket.language or (queue.language if queue else None) or \
        config.instance.default_language


def agent_language(config: Config, agent: Agent, queue: Queue | None) -> str:
    return agent.language or (queue.language if queue else None) or \
        config.instance.default_language


def ticket_subject(config: Config, number: str, subject: str | None, reply: bool = False) -> str:
    """`[Ticket#N] subject`: earlier tags and reply prefixes go, so nothing doubles up."""
    text = clean_header(subject)
    text = tag_pattern(config.instance.ticket_hook).sub(" ", text)
    for _ in range(3):  # "Re: [Ticket#1] Re: x" needs two passes once the tag is gone
        text = REPLY_PREFIX.sub("", " ".join(text.split()))
    tagged = f"{subject_tag(config.instance.ticket_hook, number)} {text or '(no subject)'}"
    return ("Re: " + tagged) if reply else tagged


def ticket_context(config: Config, ticket: Ticket, queue: Queue | None) -> dict[str, object]:
    """The ticket as every template sees it: plain values, nothing to call."""
    return {
        "instance": {"name": config.instance.name, "domain": config.instance.domain},
        "queue": {"name": ticket.queue,
                  "display_name": (queue.display_name if queue else "") or ticket.queue,
                  "address": queue.address if queue else ""},
        "ticket": {"number": ticket.number, "title": ticket.title, "state": ticket.state,
                   "priority": ticket.priority, "queue": ticket.queue,
                   "owner": ticket.owner or "", "customer": ticket.customer,
                   "tags": ticket.tags, "locked": bool(ticket.locked)},
        "tag": subject_tag(config.instance.ticket_hook, ticket.number),
    }


def from_queue(config: Config, queue: Queue | None) -> tuple[str, str]:
    """(name, address) every mail is sent from: the ticket's queue, else the first queue."""
    if queue is not None:
        return (queue.display_name or queue.name), queue.address
    first = config.queues[0]
    return (first.display_name or config.instance.name), first.address


def queue_agents(config: Config, queue: str) -> list[Agent]:
    return [a for a in config.agents if "read" in config.permissions(a, queue)]


def reply_address(queue_address: str, token: str) -> str:
    local, _, domain = queue_address.partition("@")
    return f"{local.split('+', 1)[0]}+{token}@{domain}"


def reply_token(secret: bytes, ticket_id: int, address: str) -> str:
    """`tokens.make_token` for today: the same token all day for one ticket and agent, so
    it is made once (an HMAC and base32, ~20 us) and then found (issue 20: every mail of a
    ticket notifies the same agents again)."""
    return _token(secret, ticket_id, address, datetime.now(UTC).date())


@functools.lru_cache(maxsize=4096)
def _token(secret: bytes, ticket_id: int, address: str, day: date) -> str:
    # A pure function of its arguments: make_token reads nothing but `now`'s date.
    return make_token(secret, ticket_id, address,
                      datetime(day.year, day.month, day.day, tzinfo=UTC))
