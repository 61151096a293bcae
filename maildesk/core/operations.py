"""Ticket operations every entrance shares: open a ticket from a mail, add a mail to a
ticket, add an agent's or a customer's text.

The mail pipeline, the HTTP API (whose new tickets are mails in all but transport) and the
web call these; each runs in the caller's transaction and returns the events it made,
which the caller dispatches with the rest of its work (`outbound.dispatch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from maildesk.core.actors import Actor
from maildesk.core.commands import BlockResult, Deps, Upload, run_block
from maildesk.core.context import Incoming
from maildesk.core.tickets import add_article, create_ticket, record
from maildesk.customers.table import link_customer
from maildesk.events import TicketEvent
from maildesk.store.models import Article, Ticket

if TYPE_CHECKING:
    from maildesk.routing import Route

__all__ = ["Incoming", "Refused", "add_mail_article", "add_text", "open_ticket"]


class Refused(Exception):
    """Nothing applied: the per-line results say why (`BlockResult.failed`)."""

    def __init__(self, result: BlockResult) -> None:
        super().__init__("; ".join(f"{r.line}: {r.text}" for r in result.failed))
        self.result = result


def open_ticket(session: Session, rt: Deps, incoming: Incoming, decision: Route, *,
                linked_to: Ticket | None = None,
                actor: str = "system") -> tuple[Ticket, TicketEvent]:
    """A new ticket holding this mail, as `decision` (the routing result) says; the event
    (`new`, or `autoreply_received`) brings the auto-response and the notifications."""
    config, mail = rt.config, incoming.mail
    queue = config.queue(decision.queue)
    ticket = create_ticket(
        session, config,
        title=mail.subject or "(no subject)",
        queue=decision.queue,
        customer=(mail.from_addr or incoming.envelope.sender or "").lower(),
        priority=decision.priority,
        state=decision.state,
        owner=decision.owner,
        tags=decision.tags,
        language=decision.language or (queue.language if queue else None),
        linked_to=linked_to,
        actor=actor,
        # the sender becomes a customer (SPEC 16), here so every entrance (mail, HTTP)
        # does it; before the ticket's INSERT, which then carries the row's id
        before_insert=lambda fresh: link_customer(session, fresh, mail, incoming.directory),
    )
    if decision.matched:
        record(session, ticket, "routed", rules=decision.matched, queue=decision.queue)
    article = add_mail_article(session, rt, ticket, incoming)
    kind = "autoreply_received" if incoming.classification.kind == "autoreply" else "new"
    event = TicketEvent(kind=kind, ticket=ticket, article=article, mail=mail,
                        envelope=incoming.envelope, classification=incoming.classification,
                        autoresponse=decision.autoresponse)
    return ticket, event


def add_mail_article(session: Session, rt: Deps, ticket: Ticket, incoming: Incoming,
                     **kwargs: object) -> Article:
    """The mail as an article of `ticket` (raw bytes into the article store)."""
    return add_article(session, rt.store, ticket, mail=incoming.mail, raw=incoming.raw,
                       envelope=incoming.envelope, raw_sha256=incoming.digest,
                       content_sha256=incoming.content_key,
                       **kwargs)  # type: ignore[arg-type]


def add_text(session: Session, rt: Deps, actor: Actor, ticket: Ticket, body: str, *,
             internal: bool = False, files: Sequence[Upload] = ()) -> Article:
    """An agent's answer (mailed to the customer, with `files`) or internal note, or a
    customer's message, with the same permission checks as the command engine; raises
    `Refused`."""
    result = run_block(session, rt, actor, ticket, ["/note"] if internal else [], text=body,
                       files=files)
    if not result.applied or result.article is None:
        raise Refused(result)
    return result.article
