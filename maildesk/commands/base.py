"""What every mail command shares: the work it runs in, its errors, its shape.

Commands follow Mailman's `IEmailCommand` (STYLE 9): a small class with `name`,
`argument_description`, `description` and one `process` method, found through the registry
in `maildesk.commands`. `process` changes the ticket and returns the line the transcript
shows, or raises `CommandError` with a reason the agent can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from sqlalchemy.orm import Session

from maildesk.config import Config
from maildesk.core.actors import Actor
from maildesk.core.tickets import record
from maildesk.errors import MaildeskError
from maildesk.events import TicketEvent
from maildesk.store.models import Ticket

__all__ = ["Command", "CommandError", "Work"]


class CommandError(MaildeskError):
    """A command line that cannot apply; the message is what the agent reads."""


@dataclass
class Work:
    """One command block in progress (`maildesk.core.commands.run_block` makes it): the
    ticket it changes, who acts, and what it decided."""

    config: Config
    session: Session
    ticket: Ticket
    actor: Actor
    events: list[TicketEvent] = field(default_factory=list)
    note: bool = False  # /note: the text stays internal
    merged_into: Ticket | None = None  # /merge ran: nothing may follow it
    inserts: list[str] = field(default_factory=list)  # /faq: entry texts for the answer

    @property
    def agent(self) -> Actor:
        """The actor, under the name the commands were written with."""
        return self.actor

    def permissions(self, queue: str | None = None) -> frozenset[str]:
        return self.actor.permissions(self.config, queue or self.ticket.queue)

    def require(self, permission: str, queue: str | None = None) -> None:
        queue = queue or self.ticket.queue
        if permission not in self.permissions(queue):
            raise CommandError(f"you do not have the '{permission}' permission in queue "
                               f"{queue}")

    def require_unlocked(self) -> None:
        """A lock means only its owner changes the ticket."""
        ticket = self.ticket
        if ticket.locked and ticket.owner and ticket.owner.lower() != self.agent.address:
            raise CommandError(f"the ticket is locked by {ticket.owner}; only they can change "
                               "it (ask them to /unlock)")

    def record(self, event: str, **details: object) -> None:
        record(self.session, self.ticket, event, self.actor.label, via=self.actor.via,
               **details)


class Command(Protocol):
    name: ClassVar[str]
    argument_description: ClassVar[str]
    description: ClassVar[str]

    def process(self, work: Work, args: list[str]) -> str: ...
