"""Mails the timers cause: a pending reminder, an escalation warning or breach, a lock
released by its timeout. Each is a `TimerNotice` event that `dispatch` routes here, queued
in the transaction of the timer's action like every other notification, as what to send
(a deferred Spec, issue 20): the sender renders `agent/<kind>.txt` in each agent's language.
The subject (`agent/<kind>_subject.txt`) is rendered when queued: a German agent reads
"Erinnerung: ..." in the list of mails before opening one. `TimerNotice.subject` stays the
English word for the log and webhooks.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from maildesk.config import Agent, Config
from maildesk.core.tickets import record
from maildesk.events import TimerNotice
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
from maildesk.outbound.deferred import Spec
from maildesk.outbound.failures import guarded
from maildesk.outbound.queuing import enqueue
from maildesk.outbound.render import new_message_id, render_text
from maildesk.store.models import Ticket

__all__ = ["notice_spec", "to_owner_or_queue", "to_queue"]


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
    spec, message_id = notice_spec(config, secret, ticket, agent, event.kind, event.details)
    spec.check(config)

    def queued(rows: list[int]) -> None:
        record(session, ticket, "notification sent", cause=event.kind, to=agent.address,
               outbox=rows[0], message_id=message_id, state="queued")

    enqueue(session, config, ticket=ticket, kind="notification", spec=spec,
            message_id=message_id, recipients=[agent.address], then=queued)


def notice_spec(config: Config, secret: bytes, ticket: Ticket, agent: Agent, kind: str,
                details: Mapping[str, object]) -> tuple[Spec, str]:
    """What to send `agent` about `ticket` (its Message-ID beside it): a Spec the sender
    renders (outbound/deferred.py), so a batch of due times queues its mails without
    building them. The subject is rendered here (it is a header, stored with the row);
    the caller checks the Spec (`Spec.check`: the addresses, the body template) before
    queuing it. Shared with the timers' bulk path (maildesk/timers/bulk.py), so both
    queue the same mail."""
    queue = config.queue(ticket.queue)
    language = agent_language(config, agent, queue)
    token = reply_token(secret, ticket.id, agent.address)
    queue_name, queue_address = from_queue(config, queue)
    reply_to = reply_address(queue_address, token)
    context = ticket_context(config, ticket, queue)
    context.update(agent={"name": agent.name, "address": agent.address},
                   reply_to=reply_to, language=language, **details)
    subject = render_text(config, f"agent/{kind}_subject.txt", language, **context)
    message_id = new_message_id(config.instance.domain, prefix=token)
    spec = Spec(
        template=f"agent/{kind}.txt", language=language, context=context,
        from_name=queue_name, from_addr=queue_address, to=[(agent.name, agent.address)],
        reply_to=reply_to, subject=ticket_subject(config, ticket.number, subject),
        extra=auto_headers(config, AUTO_GENERATED), commands=True)
    return spec, message_id
