"""Mails the timers cause: a pending reminder, an escalation warning or breach, a lock
released by its timeout. Each is a `TimerNotice` event that `dispatch` routes here, queued
in the transaction of the timer's action like every other notification; rendered from
`agent/<kind>.txt` in each agent's language, and so is the subject
(`agent/<kind>_subject.txt`): a German agent reads "Erinnerung: ..." in the list of mails
before opening one. `TimerNotice.subject` stays the English word for the log and webhooks.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from maildesk.config import Agent, Config
from maildesk.core.tickets import record
from maildesk.events import TimerNotice
from maildesk.outbound.agent import command_help
from maildesk.outbound.compose import (
    AUTO_GENERATED,
    agent_language,
    auto_headers,
    from_queue,
    queue_agents,
    reply_address,
    ticket_context,
    ticket_subject,
)
from maildesk.outbound.failures import guarded
from maildesk.outbound.outbox import enqueue
from maildesk.outbound.render import build_message, new_message_id, render_text
from maildesk.store.models import Ticket
from maildesk.tokens import make_token

__all__ = ["to_owner_or_queue", "to_queue"]


def to_owner_or_queue(session: Session, config: Config, secret: bytes,
                      event: TimerNotice) -> None:
    """A reminder: the owner, else every agent who may read the queue."""
    owner = config.agent(event.ticket.owner) if event.ticket.owner else None
    agents = [owner] if owner is not None else queue_agents(config, event.ticket.queue)
    _notify(session, config, secret, event, agents)


def to_queue(session: Session, config: Config, secret: bytes, event: TimerNotice) -> None:
    """An escalation or a released lock: every agent who may read the queue."""
    _notify(session, config, secret, event, queue_agents(config, event.ticket.queue))


def _notify(session: Session, config: Config, secret: bytes, event: TimerNotice,
            agents: list[Agent]) -> None:
    """One mail per agent; a broken template costs that mail only (recorded in the
    history), never the timer's action."""
    ticket = event.ticket
    for agent in agents:
        def work(agent: Agent = agent) -> None:
            _one(session, config, secret, ticket, agent, event)

        guarded(session, config, ticket, what="notification", kind="notification",
                to=agent.address, work=work)


def _one(session: Session, config: Config, secret: bytes, ticket: Ticket, agent: Agent,
         event: TimerNotice) -> None:
    queue = config.queue(ticket.queue)
    language = agent_language(config, agent, queue)
    token = make_token(secret, ticket.id, agent.address)
    queue_name, queue_address = from_queue(config, queue)
    reply_to = reply_address(queue_address, token)
    context = ticket_context(config, ticket, queue)
    context.update(agent={"name": agent.name, "address": agent.address},
                   commands=command_help(), reply_to=reply_to, language=language,
                   **event.details)
    body = render_text(config, f"agent/{event.kind}.txt", language, **context)
    subject = render_text(config, f"agent/{event.kind}_subject.txt", language, **context)
    message_id = new_message_id(config.instance.domain, prefix=token)
    message = build_message(
        from_name=queue_name, from_addr=queue_address,
        to=[(agent.name, agent.address)], reply_to=reply_to,
        subject=ticket_subject(config, ticket.number, subject),
        body=body, message_id=message_id,
        extra=auto_headers(config, AUTO_GENERATED),
    )
    rows = enqueue(session, config, ticket=ticket, kind="notification",
                   message=message, recipients=[agent.address])
    record(session, ticket, "notification sent", cause=event.kind, to=agent.address,
           outbox=rows[0], message_id=message_id, state="queued")
