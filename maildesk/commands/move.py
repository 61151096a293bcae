"""/move QUEUE: needs the move permission out of the current queue and into the new one;
the new queue's agents are notified (a `moved` event)."""

from __future__ import annotations

from typing import ClassVar

from maildesk.commands.base import CommandError, Work
from maildesk.events import TicketEvent

__all__ = ["Move"]


class Move:
    name: ClassVar[str] = "move"
    argument_description: ClassVar[str] = "QUEUE"
    description: ClassVar[str] = "move the ticket to another queue"

    def process(self, work: Work, args: list[str]) -> str:
        if not args:
            raise CommandError("/move needs a queue name")
        wanted = " ".join(args)
        queue = next((q for q in work.config.queues if q.name.lower() == wanted.lower()), None)
        if queue is None:
            names = ", ".join(q.name for q in work.config.queues)
            raise CommandError(f"no queue named {wanted!r} (queues: {names})")
        ticket = work.ticket
        if queue.name == ticket.queue:
            return f"already in queue {queue.name}"
        work.require_unlocked()
        work.require("move")  # out of this queue
        work.require("move", queue.name)  # and into the other
        old, ticket.queue = ticket.queue, queue.name
        work.record("queue", old=old, new=queue.name)
        work.events.append(TicketEvent(kind="moved", ticket=ticket, actor=work.actor.address,
                                       details={"old": old}))
        return f"moved from {old} to {queue.name}"
