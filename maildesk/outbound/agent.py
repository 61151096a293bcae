"""Mail to agents, one function per `templates/<lang>/agent/` purpose: notifications (SPEC 7),
command transcripts, refusal notices and undeliverable-answer notes, each in the agent's
language.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from maildesk.config import Agent, Config, Queue
from maildesk.core.tickets import record
from maildesk.events import CommandsProcessed, DeliveryFailed, MailRefused, TicketEvent
from maildesk.outbound.compose import (
    AUTO_GENERATED,
    agent_language,
    auto_headers,
    from_queue,
    queue_agents,
    reply_address,
    reply_token,
    ticket_context,
    ticket_subject,
)
from maildesk.outbound.deferred import MAX_QUOTED, Spec, command_help, cut_quote, more_context
from maildesk.outbound.failures import guarded
from maildesk.outbound.queuing import enqueue, ticket_values
from maildesk.outbound.render import (
    build_message,
    check_address,
    clean_header,
    new_message_id,
    render_text,
)
from maildesk.reasons import localized
from maildesk.store.models import Article, Ticket

__all__ = ["MAX_QUOTED", "command_help", "delivery_failed", "notify", "refusal", "transcript"]

NOTIFICATION_KIND = {
    "new": "new",
    "autoreply_received": "new",
    "followup": "followup",
    "closed_followup": "followup",
    "moved": "moved",
}


# --------------------------------------------------------------------------- notifications


def notify(session: Session, config: Config, secret: bytes, event: TicketEvent) -> None:
    """SPEC 7: new → the queue's agents; follow-up → the owner of a locked ticket, else the
    queue's agents; moved → the new queue's agents. Never whoever caused the event.

    What every agent's mail shares (the quote, the context, the headers, the template
    check) is made once, by the first agent's work: inside its guard, so a failure there
    costs each agent's mail as it did, never the change that caused the event."""
    kind = NOTIFICATION_KIND.get(event.kind)
    if kind is None:
        return
    ticket = event.ticket
    if kind == "followup" and ticket.owner and ticket.locked:
        owner = config.agent(ticket.owner)
        agents = [owner] if owner is not None else queue_agents(config, ticket.queue)
    else:
        agents = queue_agents(config, ticket.queue)
    excluded = {event.actor.lower()}
    if event.mail is not None and event.mail.from_addr:
        excluded.add(event.mail.from_addr.lower())
    made: list[_Common] = []

    def common() -> _Common:
        if not made:
            made.append(_common(session, config, event, kind))
        return made[0]

    for agent in agents:
        if agent.address.lower() in excluded:
            continue

        def work(agent: Agent = agent) -> None:
            _notify(session, config, secret, event, common(), agent)

        guarded(session, config, ticket, what="notification", kind="notification",
                to=agent.address, work=work)


@dataclass
class _Quoted:
    body: str
    more: dict[str, int] | None
    attachments: list[dict[str, object]]
    from_name: str
    from_addr: str
    message_id: str | None
    references: list[str]
    article: Article | None  # the sender reads body and attachments from it


def _quoted(event: TicketEvent) -> _Quoted:
    """The customer's text and attachments this notification is about."""
    article = event.article
    if article is None:  # a move: show the latest customer article
        article = next((a for a in reversed(event.ticket.articles)
                        if a.sender_type == "customer"), None)
    mail = event.mail
    body, more = cut_quote(mail.body if mail and article is None else "")
    return _Quoted(
        body=body,
        more=more,
        attachments=[],
        from_name=clean_header(mail.from_name if mail else ""),
        from_addr=(mail.from_addr if mail else None) or event.ticket.customer,
        message_id=(mail.message_id if mail else None) or (article.message_id if article
                                                             else None),
        references=list(mail.references) if mail else [],
        article=article,
    )


@dataclass
class _Common:
    """What the notifications of one event share, whoever gets them."""

    kind: str
    queue: Queue | None
    queue_address: str
    context: dict[str, object]
    from_name: str
    subject: str
    in_reply_to: str | None
    references: list[str]
    extra: dict[str, str]
    quote: int | None
    checked: set[str] = field(default_factory=set)  # languages whose template was found


def _common(session: Session, config: Config, event: TicketEvent, kind: str) -> _Common:
    ticket = event.ticket
    queue = config.queue(ticket.queue)
    quoted = _quoted(event)
    queue_name, queue_address = from_queue(config, queue)
    context = {**ticket_values(session, config, ticket, queue)}
    context.update(
        event=kind, customer={"name": quoted.from_name, "address": quoted.from_addr},
        subject=clean_header(event.mail.subject if event.mail else ticket.title),
        old_queue=event.details.get("old"), actor=event.actor,
    )
    if quoted.article is None:
        context.update(body=quoted.body, attachments=quoted.attachments,
                       more=more_context(config, ticket.number, quoted.more))
    elif quoted.article.id is None:
        session.flush()  # the article's id, which the sender reads it by
    who = quoted.from_name or quoted.from_addr or ticket.customer
    return _Common(
        kind=kind, queue=queue, queue_address=queue_address, context=context,
        from_name=f"{who} via {queue_name}",
        subject=ticket_subject(config, ticket.number, ticket.title),
        in_reply_to=quoted.message_id, references=quoted.references,
        extra=auto_headers(config, AUTO_GENERATED),
        quote=quoted.article.id if quoted.article is not None else None)


def _notify(session: Session, config: Config, secret: bytes, event: TicketEvent,
            common: _Common, agent: Agent) -> None:
    ticket = event.ticket
    token = reply_token(secret, ticket.id, agent.address)
    reply_to = reply_address(common.queue_address, token)
    language = agent_language(config, agent, common.queue)
    context = {**common.context, "agent": {"name": agent.name, "address": agent.address},
               "reply_to": reply_to, "language": language}
    message_id = new_message_id(config.instance.domain, prefix=token)
    # What to send, rendered by the sender (outbound/deferred.py): the customer's text and
    # the command help are read there, from the article and the registry.
    spec = Spec(
        template=f"agent/notification_{common.kind}.txt", language=language,
        context=context, from_name=common.from_name, from_addr=common.queue_address,
        to=[(agent.name, agent.address)], reply_to=reply_to, subject=common.subject,
        in_reply_to=common.in_reply_to, references=common.references, extra=common.extra,
        quote=common.quote, commands=True,
    )
    spec.check(config, common.checked)

    def queued(rows: list[int]) -> None:
        record(session, ticket, "notification sent", cause=common.kind, to=agent.address,
               outbox=rows[0], message_id=message_id, state="queued")

    enqueue(session, config, ticket=ticket, kind="notification", spec=spec,
            message_id=message_id, recipients=[agent.address], then=queued)


# --------------------------------------------------------------------------- replies to agents


def _language_of(config: Config, address: str, ticket: Ticket | None) -> str:
    agent = config.agent(address)
    queue = config.queue(ticket.queue) if ticket is not None else None
    if agent is not None:
        return agent_language(config, agent, queue)
    return (queue.language if queue else None) or config.instance.default_language


def transcript(session: Session, config: Config, secret: bytes,
               event: CommandsProcessed) -> None:
    """`> /cmd` then its result, one block per line, as Debian's control@ answers."""
    language = _language_of(config, event.to, event.ticket)
    lines = [{"line": r.line, "ok": r.ok, "text": r.text} for r in event.results]
    answer = event.answer
    errors = sum(not r.ok for r in event.results) + (answer is not None and not answer.ok)
    context = {
        **ticket_context(config, event.ticket, config.queue(event.ticket.queue)),
        "commands": lines, "failed": event.failed, "errors": errors, "language": language,
        "answer": None if answer is None else {"ok": answer.ok, "text": answer.text},
        "subject": clean_header(event.subject, 300),
    }
    body = render_text(config, "agent/command_result.txt", language, **context)
    subject = render_text(config, "agent/command_result_subject.txt", language, **context)
    _to_agent(session, config, event.ticket, event.to, subject, body, event.in_reply_to,
              list(event.references))


def refusal(session: Session, config: Config, secret: bytes, event: MailRefused) -> None:
    """Tell the agent a mail in their name was kept unverified and nothing applied."""
    language = _language_of(config, event.to, event.ticket)
    context = {
        **ticket_context(config, event.ticket, config.queue(event.ticket.queue)),
        "subject": clean_header(event.subject, 200), "language": language,
        "from_addr": clean_header(event.from_addr or "(none)", 200),
        "envelope_sender": clean_header(event.envelope_sender or "<>", 200),
        "reason": clean_header(localized(event.reasons, language) if event.reasons
                               else event.reason, 500),
    }
    body = render_text(config, "agent/refusal.txt", language, **context)
    subject = render_text(config, "agent/refusal_subject.txt", language, **context)
    _to_agent(session, config, event.ticket, event.to, subject, body, None, [])


def _to_agent(session: Session, config: Config, ticket: Ticket | None, to: str, subject: str,
              body: str, in_reply_to: str | None, references: list[str]) -> None:
    """A machine-made mail to an agent: `Auto-Submitted: auto-generated`, threaded to the
    agent's mail by In-Reply-To."""
    queue = config.queue(ticket.queue) if ticket is not None else None
    from_name, from_addr = from_queue(config, queue)
    message_id = new_message_id(config.instance.domain)
    message = build_message(
        from_name=from_name, from_addr=from_addr, to=[("", check_address(to))],
        subject=clean_header(subject), body=body, message_id=message_id,
        in_reply_to=in_reply_to,
        references=[*references, *([in_reply_to] if in_reply_to else [])],
        extra=auto_headers(config, AUTO_GENERATED),
    )
    rows = enqueue(session, config, ticket=ticket, kind="result", message=message,
                   recipients=[to])
    if ticket is not None:
        record(session, ticket, "result sent", to=to, outbox=rows[0],
               message_id=message_id, state="queued")


def delivery_failed(session: Session, config: Config, secret: bytes,
                    event: DeliveryFailed) -> None:
    """Tell the owner (or the queue's agents) that an answer could not be delivered.

    Only answers get such a note: a failed note, notification or auto-response is recorded
    in the history and nothing more, so a broken address can never start a mail storm."""
    ticket, failed = event.ticket, event.row
    if failed.kind != "answer":
        return
    owner = config.agent(ticket.owner) if ticket.owner else None
    agents = [owner] if owner is not None else queue_agents(config, ticket.queue)
    queue = config.queue(ticket.queue)
    for agent in agents:
        def work(agent: Agent = agent) -> None:
            language = agent_language(config, agent, queue)
            context = ticket_context(config, ticket, queue)
            context.update(agent={"name": agent.name, "address": agent.address},
                           failed={"to": failed.to_addr, "subject": failed.subject,
                                   "error": failed.last_error or "", "id": failed.id,
                                   "attempts": failed.attempts}, language=language)
            body = render_text(config, "agent/delivery_failed.txt", language, **context)
            queue_name, queue_address = from_queue(config, queue)
            message_id = new_message_id(config.instance.domain)
            message = build_message(
                from_name=queue_name, from_addr=queue_address,
                to=[(agent.name, agent.address)],
                subject=ticket_subject(config, ticket.number,
                                       f"Undeliverable: {ticket.title}"),
                body=body, message_id=message_id, in_reply_to=failed.message_id,
                extra=auto_headers(config, AUTO_GENERATED),
            )
            rows = enqueue(session, config, ticket=ticket, kind="notification",
                           message=message, recipients=[agent.address])
            record(session, ticket, "notification sent", cause="delivery failed",
                   to=agent.address, outbox=rows[0], message_id=message_id, state="queued")

        guarded(session, config, ticket, what="notification", kind="notification",
                to=agent.address, work=work)

