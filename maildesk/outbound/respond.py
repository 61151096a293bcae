"""Turn ticket events into outbox rows: auto-responses to customers (SPEC 6, 8) and
notifications to agents (SPEC 7); plus the helpers the agents work uses to queue an answer
to the customer and a command transcript to an agent.

Everything here runs inside the transaction of the change that caused it, so a mail is
queued exactly when its cause is committed. Nothing here sends. A template that fails to
render costs that one mail (recorded in the ticket's history), never the ingestion.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import jinja2
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from maildesk.classify import loop_value
from maildesk.config import Agent, Config, Queue
from maildesk.events import TicketEvent
from maildesk.followup import subject_tag, tag_pattern
from maildesk.outbound.hygiene import autoresponse_decision
from maildesk.outbound.outbox import enqueue
from maildesk.outbound.render import (
    InvalidAddress,
    build_message,
    check_address,
    clean_header,
    new_message_id,
    render_text,
)
from maildesk.store.models import Article, Customer, OutboxMail, Ticket, utcnow
from maildesk.tickets import record
from maildesk.tokens import make_token

if TYPE_CHECKING:
    from maildesk.app import App

__all__ = [
    "COMMANDS_HELP",
    "customer_language",
    "queue_answer",
    "queue_failure_note",
    "queue_result",
    "respond",
    "ticket_subject",
]

log = logging.getLogger("maildesk.outbox")

# One line per command, for the footer of every notification (SPEC 7).
COMMANDS_HELP: tuple[tuple[str, str], ...] = (
    ("/lock", "lock the ticket to you"),
    ("/unlock", "release the lock"),
    ("/move QUEUE", "move the ticket to another queue"),
    ("/priority 1-5|name", "set the priority (very low .. very high)"),
    ("/close [successful|unsuccessful]", "close the ticket"),
    ("/reopen", "open a closed ticket again"),
    ("/pending YYYY-MM-DD [reminder|auto-close]", "wait until a date"),
    ("/assign AGENT", "make an agent the owner"),
    ("/note", "keep this mail internal: the customer gets nothing"),
    ("/tag +a -b", "add or remove tags"),
    ("/cc add|remove ADDRESS", "change who gets copies of answers"),
    ("/merge TICKET", "merge this ticket into another"),
)

_AUTORESPONSE_TEMPLATES = {
    "new": "customer/autoresponse_new.txt",
    "followup": "customer/autoresponse_followup.txt",
    "closed_followup": "customer/autoresponse_closed_followup.txt",
    "reject": "customer/autoresponse_reject.txt",
}
_NOTIFICATION_KIND = {
    "new": "new",
    "autoreply_received": "new",
    "followup": "followup",
    "closed_followup": "followup",
    "moved": "moved",
}
_RENDER_ERRORS = (jinja2.TemplateError, InvalidAddress, ValueError, UnicodeError)
_REPLY_PREFIXES = (r"(?:re|aw|antw|rv|r|sv|vs|fwd?|fw|wg|tr|enc|回复|答复|回覆)")
MAX_QUOTED = 64 * 1024  # the customer's text in a notification; the ticket keeps it all


def respond(session: Session, app: App, events: list[TicketEvent]) -> None:
    """Queue the auto-responses and notifications these events call for."""
    for event in events:
        if event.kind in _AUTORESPONSE_TEMPLATES:
            _guarded(session, event.ticket, "auto-response failed",
                     lambda e=event: _autorespond(session, app, e))
        kind = _NOTIFICATION_KIND.get(event.kind)
        if kind is not None:
            for agent in _recipients(session, app.config, event, kind):
                _guarded(session, event.ticket, "notification failed",
                         lambda e=event, a=agent, k=kind: _notify(session, app, e, k, a))


def _guarded(session: Session, ticket: Ticket, failure: str, work: Callable[[], None]) -> None:
    """Run one mail's queuing so that a broken template, a bad address or a bug costs that
    mail only (logged, and recorded on the ticket), never the ingestion of the customer's
    mail. Each piece of work renders and checks everything before its first write, so no
    savepoint is needed (one per mail cost a fifth of the pipeline). Database errors still
    propagate: the pipeline spools."""
    try:
        work()
    except SQLAlchemyError:
        raise
    except _RENDER_ERRORS as exc:
        log.warning("ticket %s: %s: %s", ticket.number, failure, exc)
        record(session, ticket, failure, error=f"{type(exc).__name__}: {exc}"[:500])
    except Exception as exc:  # a bug: loud in the log, but the mail stays stored
        log.exception("ticket %s: %s", ticket.number, failure)
        record(session, ticket, failure, error=f"{type(exc).__name__}: {exc}"[:500])


# --------------------------------------------------------------------------- customers


def customer_language(session: Session, config: Config, ticket: Ticket,
                      queue: Queue | None, address: str | None = None) -> str:
    """The customer's language where known, else the ticket's, the queue's, the default."""
    address = (address or ticket.customer or "").lower()
    if address:
        lang = session.execute(
            select(Customer.language).where(Customer.address == address)
        ).scalar_one_or_none()
        if lang:
            return lang
    return ticket.language or (queue.language if queue else None) or \
        config.instance.default_language


def ticket_subject(config: Config, number: str, subject: str | None, reply: bool = False) -> str:
    """`[Ticket#N] subject`: earlier tags and reply prefixes go, so nothing doubles up."""
    import re

    text = clean_header(subject)
    text = tag_pattern(config.instance.ticket_hook).sub(" ", text)
    prefix = re.compile(rf"^\s*(?:{_REPLY_PREFIXES}\s*(?:\[\d+\])?\s*[:：]\s*)+", re.IGNORECASE)
    for _ in range(3):  # "Re: [Ticket#1] Re: x" needs two passes once the tag is gone
        text = prefix.sub("", " ".join(text.split()))
    tagged = f"{subject_tag(config.instance.ticket_hook, number)} {text or '(no subject)'}"
    return ("Re: " + tagged) if reply else tagged


def _ticket_context(config: Config, ticket: Ticket, queue: Queue | None) -> dict[str, object]:
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


def _from_queue(config: Config, queue: Queue | None) -> tuple[str, str]:
    if queue is not None:
        return (queue.display_name or queue.name), queue.address
    first = config.queues[0]
    return (first.display_name or config.instance.name), first.address


def _autorespond(session: Session, app: App, event: TicketEvent) -> None:
    config, ticket, mail = app.config, event.ticket, event.mail
    queue = config.queue(ticket.queue)
    decision = autoresponse_decision(session, config, queue, event)
    if decision.switched_off:
        return
    if not decision.send:
        record(session, ticket, "auto-response suppressed", cause=event.kind,
               to=decision.to, reasons=decision.reasons)
        return
    language = customer_language(session, config, ticket, queue, decision.to)
    context = _ticket_context(config, ticket, queue)
    context.update(
        event=event.kind,
        customer={"name": clean_header(mail.from_name if mail else ""), "address": decision.to},
        subject=clean_header(mail.subject if mail else ticket.title),
        language=language,
    )
    body = render_text(config, _AUTORESPONSE_TEMPLATES[event.kind], language, **context)
    from_name, from_addr = _from_queue(config, queue)
    message_id = new_message_id(config.instance.domain)
    message = build_message(
        from_name=from_name, from_addr=from_addr,
        to=[(mail.from_name if mail else "", decision.to)],
        subject=ticket_subject(config, ticket.number, mail.subject if mail else ticket.title),
        body=body, message_id=message_id,
        in_reply_to=mail.message_id if mail else None,
        references=list(mail.references) if mail else None,
        extra={"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All",
               "X-Loop": loop_value(config)},
    )
    rows = enqueue(session, config, ticket=ticket, kind="autoreply", message=message,
                   recipients=[decision.to])
    record(session, ticket, "auto-response sent", cause=event.kind, to=decision.to,
           outbox=rows[0].id, message_id=message_id, state="queued", language=language)


# --------------------------------------------------------------------------- agents


def _queue_agents(config: Config, queue: str) -> list[Agent]:
    return [a for a in config.agents if "read" in config.permissions(a, queue)]


def _recipients(session: Session, config: Config, event: TicketEvent, kind: str) -> list[Agent]:
    """SPEC 7: new → the queue's agents; follow-up → the owner of a locked ticket, else the
    queue's agents; moved → the new queue's agents. Never whoever caused the event."""
    ticket = event.ticket
    if kind == "followup" and ticket.owner and ticket.locked:
        owner = config.agent(ticket.owner)
        agents = [owner] if owner is not None else _queue_agents(config, ticket.queue)
    else:
        agents = _queue_agents(config, ticket.queue)
    excluded = {event.actor.lower()}
    if event.mail is not None and event.mail.from_addr:
        excluded.add(event.mail.from_addr.lower())
    return [a for a in agents if a.address.lower() not in excluded]


def _reply_address(queue_address: str, token: str) -> str:
    local, _, domain = queue_address.partition("@")
    return f"{local.split('+', 1)[0]}+{token}@{domain}"


@dataclass
class _Quoted:
    body: str
    attachments: list[dict[str, object]]
    from_name: str
    from_addr: str
    message_id: str | None
    references: list[str]


def _quoted(event: TicketEvent) -> _Quoted:
    """The customer's text and attachments this notification is about."""
    article = event.article
    if article is None:  # a move: show the latest customer article
        article = next((a for a in reversed(event.ticket.articles)
                        if a.sender_type == "customer"), None)
    mail = event.mail
    if article is not None:
        attachments = [{"filename": a.filename, "content_type": a.content_type, "size": a.size}
                       for a in article.attachments]
        body = article.body
    else:
        attachments, body = [], mail.body if mail else ""
    return _Quoted(
        body=body[:MAX_QUOTED] + ("\n[...]\n" if len(body) > MAX_QUOTED else ""),
        attachments=attachments,
        from_name=clean_header(mail.from_name if mail else ""),
        from_addr=(mail.from_addr if mail else None) or event.ticket.customer,
        message_id=(mail.message_id if mail else None) or (article.message_id if article
                                                             else None),
        references=list(mail.references) if mail else [],
    )


def _notify(session: Session, app: App, event: TicketEvent, kind: str, agent: Agent) -> None:
    config, ticket = app.config, event.ticket
    queue = config.queue(ticket.queue)
    quoted = _quoted(event)
    token = make_token(app.secret, ticket.id, agent.address)
    queue_name, queue_address = _from_queue(config, queue)
    reply_to = _reply_address(queue_address, token)
    language = agent.language or (queue.language if queue else None) or \
        config.instance.default_language
    context = _ticket_context(config, ticket, queue)
    context.update(
        event=kind, agent={"name": agent.name, "address": agent.address},
        customer={"name": quoted.from_name, "address": quoted.from_addr},
        subject=clean_header(event.mail.subject if event.mail else ticket.title),
        body=quoted.body, attachments=quoted.attachments, old_queue=event.details.get("old"),
        actor=event.actor, commands=COMMANDS_HELP, reply_to=reply_to, language=language,
    )
    body = render_text(config, f"agent/notification_{kind}.txt", language, **context)
    who = quoted.from_name or quoted.from_addr or ticket.customer
    message_id = new_message_id(config.instance.domain, prefix=token)
    message = build_message(
        from_name=f"{who} via {queue_name}", from_addr=queue_address,
        to=[(agent.name, agent.address)], reply_to=reply_to,
        subject=ticket_subject(config, ticket.number, ticket.title), body=body,
        message_id=message_id, in_reply_to=quoted.message_id, references=quoted.references,
        extra={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All",
               "X-Loop": loop_value(config)},
    )
    rows = enqueue(session, config, ticket=ticket, kind="notification", message=message,
                   recipients=[agent.address])
    record(session, ticket, "notification sent", cause=kind, to=agent.address,
           outbox=rows[0].id, message_id=message_id, state="queued")


# --------------------------------------------------------------------------- helpers


def queue_answer(session: Session, app: App, ticket: Ticket, body: str, agent: str,
                 *, cc: list[str] | None = None) -> list[OutboxMail]:
    """Queue an agent's answer to the customer (and the ticket's cc list).

    From is the queue (never the agent's own address), the subject carries the tag, and
    In-Reply-To/References name the customer's last message, so the customer's client
    threads it. Sets `first_response_at` the first time."""
    config = app.config
    queue = config.queue(ticket.queue)
    last = session.execute(
        select(Article.message_id)
        .where(Article.ticket_id == ticket.id, Article.sender_type == "customer",
               Article.message_id.is_not(None))
        .order_by(Article.id.desc()).limit(1)
    ).scalar_one_or_none()
    customer = check_address(ticket.customer)
    copies = [check_address(a) for a in (ticket.cc if cc is None else cc)
              if a and a.lower() != customer.lower()]
    language = customer_language(session, config, ticket, queue)
    context = _ticket_context(config, ticket, queue)
    agent_row = config.agent(agent)
    context.update(body=body, agent={"address": agent, "name": agent_row.name if agent_row
                                     else ""}, language=language)
    text = render_text(config, "customer/answer.txt", language, **context)
    from_name, from_addr = _from_queue(config, queue)
    message_id = new_message_id(config.instance.domain)
    message = build_message(
        from_name=from_name, from_addr=from_addr, to=[("", customer)],
        cc=[("", a) for a in copies] or None,
        subject=ticket_subject(config, ticket.number, ticket.title, reply=True), body=text,
        message_id=message_id, in_reply_to=last, references=[last] if last else None,
    )
    rows = enqueue(session, config, ticket=ticket, kind="answer", message=message,
                   recipients=[customer, *copies])
    if ticket.first_response_at is None:
        ticket.first_response_at = utcnow()
    record(session, ticket, "answer sent", agent, to=customer, cc=copies,
           outbox=[r.id for r in rows], message_id=message_id, state="queued")
    return rows


def queue_result(session: Session, app: App, to: str, subject: str, body: str,
                 in_reply_to: str | None, ticket: Ticket | None = None,
                 references: list[str] | None = None) -> list[OutboxMail]:
    """Queue a machine-made mail to an agent (a command transcript, a refusal notice):
    `Auto-Submitted: auto-generated`, threaded to the agent's mail by In-Reply-To."""
    config = app.config
    queue = config.queue(ticket.queue) if ticket is not None else None
    from_name, from_addr = _from_queue(config, queue)
    message_id = new_message_id(config.instance.domain)
    message = build_message(
        from_name=from_name, from_addr=from_addr, to=[("", check_address(to))],
        subject=subject, body=body, message_id=message_id, in_reply_to=in_reply_to,
        references=[*(references or []), *([in_reply_to] if in_reply_to else [])],
        extra={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All",
               "X-Loop": loop_value(config)},
    )
    rows = enqueue(session, config, ticket=ticket, kind="result", message=message,
                   recipients=[to])
    if ticket is not None:
        record(session, ticket, "result sent", to=to, outbox=rows[0].id,
               message_id=message_id, state="queued")
    return rows


def queue_failure_note(session: Session, app: App, ticket: Ticket, failed: OutboxMail) -> None:
    """Tell the owner (or the queue's agents) that an answer could not be delivered.

    Only answers get such a note: a failed note, notification or auto-response is recorded
    in the history and nothing more, so a broken address can never start a mail storm."""
    config = app.config
    owner = config.agent(ticket.owner) if ticket.owner else None
    agents = [owner] if owner is not None else _queue_agents(config, ticket.queue)
    queue = config.queue(ticket.queue)
    for agent in agents:
        def work(agent: Agent = agent) -> None:
            language = agent.language or (queue.language if queue else None) or \
                config.instance.default_language
            context = _ticket_context(config, ticket, queue)
            context.update(agent={"name": agent.name, "address": agent.address},
                           failed={"to": failed.to_addr, "subject": failed.subject,
                                   "error": failed.last_error or "", "id": failed.id,
                                   "attempts": failed.attempts}, language=language)
            body = render_text(config, "agent/delivery_failed.txt", language, **context)
            queue_name, queue_address = _from_queue(config, queue)
            message_id = new_message_id(config.instance.domain)
            message = build_message(
                from_name=queue_name, from_addr=queue_address,
                to=[(agent.name, agent.address)],
                subject=ticket_subject(config, ticket.number,
                                       f"Undeliverable: {ticket.title}"),
                body=body, message_id=message_id, in_reply_to=failed.message_id,
                extra={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All",
                       "X-Loop": loop_value(config)},
            )
            rows = enqueue(session, config, ticket=ticket, kind="notification",
                           message=message, recipients=[agent.address])
            record(session, ticket, "notification sent", cause="delivery failed",
                   to=agent.address, outbox=rows[0].id, message_id=message_id, state="queued")

        _guarded(session, ticket, "notification failed", work)
