"""/assign AGENT: make another agent (or yourself) the owner; needs `owner`, and the new
owner must be able to read the queue."""

from __future__ import annotations

from typing import ClassVar

from maildesk.commands.base import CommandError, Work
from maildesk.commands.util import one_argument

__all__ = ["Assign"]


class Assign:
    name: ClassVar[str] = "assign"
    argument_description: ClassVar[str] = "AGENT"
    description: ClassVar[str] = "make an agent the owner (their address)"

    def process(self, work: Work, args: list[str]) -> str:
        wanted = one_argument(self.name, args, "agent address").strip("<>").lower()
        agent = work.config.agent(wanted)
        if agent is None:
            raise CommandError(f"{wanted} is not an agent of this helpdesk")
        work.require_unlocked()
        work.require("owner")
        ticket = work.ticket
        if "read" not in work.config.permissions(agent, ticket.queue):
            raise CommandError(f"{agent.address} cannot read queue {ticket.queue}")
        if ticket.owner == agent.address:
            return f"owner already {agent.address}"
        old, ticket.owner = ticket.owner, agent.address
        work.record("owner", old=old, new=agent.address)
        return f"owner is now {agent.address}"
