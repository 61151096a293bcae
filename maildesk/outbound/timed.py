"""Mails the timers cause: a pending reminder, an escalation warning or breach, a lock
released by its timeout. Queued in the transaction of the timer's action, like every other
notification (respond.py); rendered from `agent/<purpose>.txt` in the agent's language.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from maildesk.classify import loop_value
from maildesk.config import Agent
from maildesk.outbound.outbox import enqueue
from maildesk.outbound.render import build_message, new_message_id, render_text
from maildesk.outbound.respond import COMMANDS_HELP, _from_queue, _guarded, _ticket_context
from maildesk.store.models import Ticket
from maildesk.tickets import record
from maildesk.tokens import make_token

if TYPE_CHECKING:
    from maildesk.app import App

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
    from maildesk.outbound.respond import _reply_address  # the agent's tokened reply

    config = app.config
    queue = config.queue(ticket.queue)
    for agent in agents:
        def work(agent: Agent = agent) -> None:
            language = agent.language or (queue.language if queue else None) or \
                config.instance.default_language
            token = make_token(app.secret, ticket.id, agent.address)
            queue_name, queue_address = _from_queue(config, queue)
            reply_to = _reply_address(queue_address, token)
            context = _ticket_context(config, ticket, queue)
            context.update(agent={"name": agent.name, "address": agent.address},
                           commands=COMMANDS_HELP, reply_to=reply_to, language=language,
                           **extra)
            body = render_text(config, f"agent/{purpose}.txt", language, **context)
            message_id = new_message_id(config.instance.domain, prefix=token)
            from maildesk.outbound.respond import ticket_subject

            message = build_message(
                from_name=queue_name, from_addr=queue_address,
                to=[(agent.name, agent.address)], reply_to=reply_to,
                subject=ticket_subject(config, ticket.number, f"{subject}: {ticket.title}"),
                body=body, message_id=message_id,
                extra={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All",
                       "X-Loop": loop_value(config)},
            )
            rows = enqueue(session, config, ticket=ticket, kind="notification",
                           message=message, recipients=[agent.address])
            record(session, ticket, "notification sent", cause=purpose, to=agent.address,
                   outbox=rows[0].id, message_id=message_id, state="queued")

        _guarded(session, ticket, "notification failed", work)
