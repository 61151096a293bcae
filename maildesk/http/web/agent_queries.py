"""What agents' pages read (blocking; on the HTTP thread pool). Every query is limited to
the queues where the agent has `read`: a queue without it is not even named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from maildesk.config import Agent, Config
from maildesk.config.vocabulary import STATES
from maildesk.store.models import Ticket, Timer

if TYPE_CHECKING:
    from maildesk.app import App

__all__ = ["QueueCounts", "overview", "readable_queues"]

CLOCKS = ("first_response", "update", "solution")


def readable_queues(config: Config, agent: Agent) -> list[str]:
    return [q.name for q in config.queues if "read" in config.permissions(agent, q.name)]


@dataclass
class QueueCounts:
    queue: str
    by_state: dict[str, int]
    escalated: int

    @property
    def open_total(self) -> int:
        return sum(n for s, n in self.by_state.items() if not s.startswith(("closed", "merged")))


def overview(app: App, agent: Agent) -> list[QueueCounts]:
    queues = readable_queues(app.config, agent)
    if not queues:
        return []
    rows = {q: QueueCounts(q, dict.fromkeys(STATES, 0), 0) for q in queues}
    with app.db.reading() as session:
        for queue, state, n in session.execute(
                select(Ticket.queue, Ticket.state, func.count())
                .where(Ticket.queue.in_(queues)).group_by(Ticket.queue, Ticket.state)):
            rows[queue].by_state[state] = int(n)
        for queue, n in session.execute(
                select(Ticket.queue, func.count(func.distinct(Timer.ticket_id)))
                .join(Timer, Timer.ticket_id == Ticket.id)
                .where(Ticket.queue.in_(queues), Timer.kind.in_(CLOCKS), Timer.stage >= 2)
                .group_by(Ticket.queue)):
            rows[queue].escalated = int(n)
    return list(rows.values())
