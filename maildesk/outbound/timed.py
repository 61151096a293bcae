"""Mails the timers cause: a pending reminder, an escalation warning or breach, a lock
released by its timeout. Queued in the transaction of the timer's action, like every other
notification (dispatch.py); rendered from `agent/<purpose>.txt` in the agent's language.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from maildesk.config import Agent, Config
from maildesk.outbound.agent import command_help
from maildesk.outbound.compose import (
    AUTO_GENERATED,
    agent_language,
    auto_headers,
    from_queue,
    reply_address,
    ticket_context,
    ticket_subject,
)
from maildesk.outbound.failures import guarded
from maildesk.outbound.outbox import enqueue
from maildesk.outbound.render import build_message, new_message_id, render_text
from maildesk.store.models import Ticket
from maildesk.tickets import record
from maildesk.tokens import make_token


class App(Protocol):
    """What these mails use of the runtime: the config and the secret for reply tokens."""

    @property
    def config(self) -> Config: ...
    @property
    def secret(self) -> bytes: ...

__all__ = ["owner_or_queue", "queue_agents", "notify_timed"]


def queue_agents(app: App, queue: str) -> list[Agent]:
    config = app.config
    return [a for a in config.agents if "read" in config.permissions(a, queue)]


def owner_or_queue(app: App, ticket: Ticket) -> list[Agent]:
    owner = app.config.agent(ticket.owner) if ticket.owner else None
    return [owner] if owner is not None else queue_agents(app, ticket.queue)


def notify_timed(session: Session, app: App, ticket: Ticket, agents: list[Agent],
                 purpose: str, subject: str, **extra: object) -> None:
    """One mail per agent from `agent/<purpose>.txt`; a broken template costs that mail
    only (recorded in the history), never the timer's action."""
    config = app.config
    queue = config.queue(ticket.queue)
    for agent in agents:
        def work(agent: Agent = agent) -> None:
            language = agent_language(config, agent, queue)
            token = make_token(app.secret, ticket.id, agent.address)
            queue_name, queue_address = from_queue(config, queue)
            reply_to = reply_address(queue_address, token)
            context = ticket_context(config, ticket, queue)
            context.update(agent={"name": agent.name, "address": agent.address},
                           commands=command_help(), reply_to=reply_to, language=language,
                           **extra)
            body = render_text(config, f"agent/{purpose}.txt", language, **context)
            message_id = new_message_id(config.instance.domain, prefix=token)
            message = build_message(
                from_name=queue_name, from_addr=queue_address,
                to=[(agent.name, agent.address)], reply_to=reply_to,
                subject=ticket_subject(config, ticket.number, f"{subject}: {ticket.title}"),
                body=body, message_id=message_id,
                extra=auto_headers(config, AUTO_GENERATED),
            )
            rows = enqueue(session, config, ticket=ticket, kind="notification",
                           message=message, recipients=[agent.address])
            record(session, ticket, "notification sent", cause=purpose, to=agent.address,
                   outbox=rows[0].id, message_id=message_id, state="queued")

        guarded(session, config, ticket, what="notification", kind="notification",
                to=agent.address, work=work)
