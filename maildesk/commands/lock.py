"""/lock and /unlock: a lock makes the agent the owner, and only the owner then changes
the ticket (SPEC 7)."""

from __future__ import annotations

from typing import ClassVar

from maildesk.commands.base import CommandError, Work
from maildesk.commands.util import no_arguments

__all__ = ["Lock", "Unlock"]


class Lock:
    name: ClassVar[str] = "lock"
    argument_description: ClassVar[str] = ""
    description: ClassVar[str] = "lock the ticket to you (you become its owner)"

    def process(self, work: Work, args: list[str]) -> str:
        no_arguments(self.name, args)
        work.require("lock")
        work.require_unlocked()
        ticket = work.ticket
        if ticket.locked and ticket.owner == work.actor.address:
            return "already locked by you"
        old_owner = ticket.owner
        ticket.locked, ticket.owner = True, work.actor.address
        work.record("lock", owner=work.actor.address)
        if old_owner != work.actor.address:
            work.record("owner", old=old_owner, new=work.actor.address)
        return f"locked; owner is now {work.actor.address}"


class Unlock:
    name: ClassVar[str] = "unlock"
    argument_description: ClassVar[str] = ""
    description: ClassVar[str] = "release your lock"

    def process(self, work: Work, args: list[str]) -> str:
        no_arguments(self.name, args)
        work.require("lock")
        ticket = work.ticket
        if not ticket.locked:
            return "already unlocked"
        if ticket.owner and ticket.owner.lower() != work.actor.address:
            raise CommandError(f"the ticket is locked by {ticket.owner}; only they can unlock "
                               "it")
        ticket.locked = False
        work.record("unlock")
        return "unlocked"
