"""Mail to customers, one function per `templates/<lang>/customer/` purpose: auto-responses
(SPEC 6, 8) and an agent's answer (with its article's files, `answer_files.py`).

Each builds the whole message before its first write, so a failure leaves nothing behind.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk.config import Config
from maildesk.core.tickets import record
from maildesk.events import AnswerQueued, TicketEvent
from maildesk.outbound.answer_files import AnswerFile, with_files
from maildesk.outbound.compose import (
    AUTO_REPLIED,
    PERSONAL,
    auto_headers,
    customer_language,
    from_queue,
    ticket_context,
    ticket_subject,
)
from maildesk.outbound.deferred import Spec
from maildesk.outbound.failures import guarded
from maildesk.outbound.hygiene import autoresponse_decision, take_slots
from maildesk.outbound.queuing import enqueue, later, ticket_values
from maildesk.outbound.render import (
    build_message,
    check_address,
    clean_header,
    new_message_id,
    render_text,
)
from maildesk.store.models import Article, utcnow

__all__ = ["AUTORESPONSE_TEMPLATES", "answer", "autorespond"]

AUTORESPONSE_TEMPLATES = {
    "new": "customer/autoresponse_new.txt",
    "followup": "customer/autoresponse_followup.txt",
    "closed_followup": "customer/autoresponse_closed_followup.txt",
    "reject": "customer/autoresponse_reject.txt",
}


def autorespond(session: Session, config: Config, secret: bytes, event: TicketEvent) -> None:
    """The auto-response an event calls for, if the queue, the mail and the cap allow it."""
    ticket = event.ticket
    queue = config.queue(ticket.queue)
    decision = autoresponse_decision(session, config, queue, event)
    if decision.switched_off:
        return
    if not decision.send:
        later(session, lambda: record(session, ticket, "auto-response suppressed",
                                      cause=event.kind, to=decision.to,
                                      reasons=decision.reasons))
        return
    guarded(session, config, ticket, what="auto-response", kind="autoreply", to=decision.to,
            work=lambda: _autorespond(session, config, event, decision.to))


def _autorespond(session: Session, config: Config, event: TicketEvent, to: str) -> None:
    ticket, mail = event.ticket, event.mail
    queue = config.queue(ticket.queue)
    language = customer_language(session, config, ticket, queue, to)
    context = {**ticket_values(session, config, ticket, queue)}
    context.update(
        event=event.kind,
        customer={"name": clean_header(mail.from_name if mail else ""), "address": to},
        subject=clean_header(mail.subject if mail else ticket.title),
        language=language,
    )
    if event.kind == "new":
        from maildesk.kb.suggest import suggestions_for

        context["suggestions"] = suggestions_for(config, ticket, mail, language)
    from_name, from_addr = from_queue(config, queue)
    message_id = new_message_id(config.instance.domain)
    # What to send, rendered by the sender (outbound/deferred.py); checked before it takes
    # its slots, so a broken template fails here and spends no cap.
    spec = Spec(
        template=AUTORESPONSE_TEMPLATES[event.kind], language=language, context=context,
        from_name=from_name, from_addr=from_addr, to=[(mail.from_name if mail else "", to)],
        subject=ticket_subject(config, ticket.number, mail.subject if mail else ticket.title),
        in_reply_to=mail.message_id if mail else None,
        references=list(mail.references) if mail else None,
        extra=auto_headers(config, AUTO_REPLIED),
    )
    spec.check(config)
    # Only a mail that is ready takes its slots of the caps.
    reasons = take_slots(session, config, event, to)
    if reasons:
        later(session, lambda: record(session, ticket, "auto-response suppressed",
                                      cause=event.kind, to=to, reasons=reasons))
        return

    def queued(rows: list[int]) -> None:
        record(session, ticket, "auto-response sent", cause=event.kind, to=to,
               outbox=rows[0], message_id=message_id, state="queued", language=language)
        if context.get("suggestions"):
            from maildesk.kb.suggest import offered

            offered(session, ticket, context["suggestions"])

    enqueue(session, config, ticket=ticket, kind="autoreply", spec=spec,
            message_id=message_id, recipients=[to], then=queued)


def answer(session: Session, config: Config, secret: bytes,
           event: AnswerQueued) -> list[int]:
    """Queue an agent's answer to the customer (and the ticket's cc list).

    From is the queue (never the agent's own address), the subject carries the tag, and
    In-Reply-To/References name the customer's last message, so the customer's client
    threads it. The answer article's files go along as attachments, to the cc copies too
    (the block checked that they fit: `answer_files.size_refusal`); built here, not at
    send time, so the agent learns of any failure from the command, not from a retry.
    Sets `first_response_at` the first time. Not guarded: a failure here fails the agent's
    whole command block, which the transcript then reports."""
    ticket = event.ticket
    queue = config.queue(ticket.queue)
    last = session.execute(
        select(Article.message_id)
        .where(Article.ticket_id == ticket.id, Article.sender_type == "customer",
               Article.message_id.is_not(None))
        .order_by(Article.id.desc()).limit(1)
    ).scalar_one_or_none()
    customer = check_address(ticket.customer)
    copies = [check_address(a) for a in (ticket.cc if event.cc is None else event.cc)
              if a and a.lower() != customer.lower()]
    language = customer_language(session, config, ticket, queue)
    context = ticket_context(config, ticket, queue)
    agent_row = config.agent(event.agent)
    context.update(body=event.body, language=language,
                   agent={"address": event.agent, "name": agent_row.name if agent_row else ""})
    text = render_text(config, "customer/answer.txt", language, **context)
    from_name, from_addr = from_queue(config, queue)
    message_id = new_message_id(config.instance.domain)
    message = build_message(
        from_name=from_name, from_addr=from_addr, to=[("", customer)],
        cc=[("", a) for a in copies] or None,
        subject=ticket_subject(config, ticket.number, ticket.title, reply=True), body=text,
        message_id=message_id, in_reply_to=last, references=[last] if last else None,
        extra=auto_headers(config, PERSONAL),
    )
    files = [AnswerFile(*f) for f in event.files]
    message = with_files(message, files)
    rows = enqueue(session, config, ticket=ticket, kind="answer", message=message,
                   recipients=[customer, *copies])
    if ticket.first_response_at is None:
        ticket.first_response_at = utcnow()
    details = {"files": len(files)} if files else {}
    record(session, ticket, "answer sent", event.agent, to=customer, cc=copies,
           outbox=rows, message_id=message_id, state="queued", **details)
    return rows
