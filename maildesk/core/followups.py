"""What a mail does to the ticket it threads to: a customer's follow-up (open, pending or
closed ticket), an auto-reply kept as an internal article, a bounce recorded, and the
duplicate check that comes first.

The pipeline decides which of these a mail is (classification, threading, routing); each
function here runs in the mail's transaction (`Context.session`), appends the events it
makes to `Context.events` and never answers the SMTP client: what the mail path replies
stays in the pipeline.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Literal, cast

from sqlalchemy import Table, bindparam, or_, select
from sqlalchemy.orm import Session

from maildesk.core.context import Context
from maildesk.core.operations import add_mail_article
from maildesk.core.tickets import record, set_state
from maildesk.intake.message import Envelope
from maildesk.store.db import execute_core
from maildesk.store.models import Article, History, Ticket, utcnow

if TYPE_CHECKING:
    from maildesk.config import Config
    from maildesk.routing import Route

__all__ = ["ClosedPolicy", "add_autoreply", "already_stored", "closed_policy",
           "followup", "record_bounce", "refuse_closed", "reopen"]

ClosedPolicy = Literal["reopen", "new_ticket", "reject"]


# A Core SELECT (no ORM entity to build: a mail asks it once, and nearly always in vain).
_ARTICLES = cast(Table, Article.__table__)
_STORED = (select(_ARTICLES.c.ticket_id, _ARTICLES.c.envelope_json)
           .where(or_(_ARTICLES.c.content_sha256 == bindparam("key"),
                      _ARTICLES.c.raw_sha256 == bindparam("digest")))
           .limit(1))


def already_stored(session: Session, digest: str, key: str, envelope: Envelope) -> str | None:
    """The ticket holding this mail already: the same bytes, or the same mail with other
    trace headers (an MTA's retry, a per-recipient copy). Recipients the first copy did
    not have are recorded on the ticket; nothing else happens (no second auto-response)."""
    found = execute_core(session, _STORED, {"key": key, "digest": digest}).first()
    if found is None:
        return None
    ticket_id, envelope_json = found
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    try:
        known = {str(r).lower() for r in json.loads(envelope_json or "{}").get("recipients", [])}
    except (ValueError, AttributeError):
        known = set()
    extra = sorted({r.lower() for r in envelope.recipients} - known)
    if extra and not _recorded(session, ticket, extra):
        record(session, ticket, "duplicate delivery", recipients=extra)
    return ticket.number


def _recorded(session: Session, ticket: Ticket, extra: list[str]) -> bool:
    """Was this set of extra recipients noted already (an MTA retrying that copy)?"""
    rows = session.execute(select(History.details_json).where(
        History.ticket_id == ticket.id, History.event == "duplicate delivery")).scalars()
    return any(json.loads(row or "{}").get("recipients") == extra for row in rows)


def add_autoreply(ctx: Context, ticket: Ticket) -> Article:
    """An out-of-office (or similar) answer to our mail: kept for the agents, internal,
    and it causes nothing (no state change, no auto-response: no mail loop)."""
    return add_mail_article(ctx.session, ctx.rt, ticket, ctx.incoming(), kind="autoreply",
                            visibility="internal")


def record_bounce(ctx: Context, ticket: Ticket) -> None:
    """A DSN for one of the ticket's mails: an internal system article and history naming
    the status and the recipients that failed; never a new ticket."""
    bounce = ctx.classification.bounce
    add_mail_article(ctx.session, ctx.rt, ticket, ctx.incoming(), kind="bounce",
                     visibility="internal", sender_type="system")
    record(ctx.session, ticket, "bounce", status=bounce.status if bounce else None,
           recipients=bounce.recipients if bounce else [])


def closed_policy(config: Config, ticket: Ticket) -> ClosedPolicy:
    """What a follow-up to this closed ticket does: its queue's `on_closed_followup`, where
    `reopen` becomes `new_ticket` once the ticket is closed longer than `reopen_days`."""
    queue = config.queue(ticket.queue)
    policy = queue.on_closed_followup if queue else "reopen"
    recent = ticket.closed_at is None or (
        utcnow() - ticket.closed_at <= timedelta(days=config.instance.reopen_days))
    if policy == "new_ticket" or (policy == "reopen" and not recent):
        return "new_ticket"
    return "reject" if policy == "reject" else "reopen"


def refuse_closed(ctx: Context, ticket: Ticket) -> None:
    """`reject`: the mail is kept on the closed ticket, which stays closed; the customer
    is told (the `reject` event)."""
    article = add_mail_article(ctx.session, ctx.rt, ticket, ctx.incoming())
    record(ctx.session, ticket, "closed follow-up refused", policy="reject")
    ctx.event("reject", ticket, article)


def reopen(ctx: Context, ticket: Ticket) -> None:
    """`reopen`: the closed ticket opens again with the mail as its newest article."""
    set_state(ctx.session, ticket, "open", reason="customer follow-up to a closed ticket")
    article = add_mail_article(ctx.session, ctx.rt, ticket, ctx.incoming())
    ctx.event("closed_followup", ticket, article)


def followup(ctx: Context, ticket: Ticket, decision: Route) -> None:
    """A follow-up to an open ticket: the rules that run on follow-ups apply (queue,
    priority, state, tags), a pending ticket opens, the mail becomes an article."""
    _apply_rules(ctx, ticket, decision)
    if ticket.state.startswith("pending"):
        set_state(ctx.session, ticket, "open", reason="customer follow-up")
    article = add_mail_article(ctx.session, ctx.rt, ticket, ctx.incoming())
    ctx.event("followup", ticket, article, autoresponse=decision.autoresponse)


def _apply_rules(ctx: Context, ticket: Ticket, decision: Route) -> None:
    if not decision.matched:
        return
    session = ctx.session
    if decision.queue != ticket.queue and ctx.rt.config.queue(decision.queue) is not None:
        old, ticket.queue = ticket.queue, decision.queue
        record(session, ticket, "queue", old=old, new=decision.queue, rules=decision.matched)
        ctx.event("moved", ticket, None, old=old)
    if decision.priority and decision.priority != ticket.priority:
        old_p, ticket.priority = ticket.priority, decision.priority
        record(session, ticket, "priority", old=old_p, new=decision.priority)
    if decision.state:
        set_state(session, ticket, decision.state, rules=decision.matched)
    if decision.tags:
        ticket.tags = ticket.tags + list(decision.tags)
