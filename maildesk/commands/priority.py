"""/priority 1-5 or a name (very low, low, normal, high, very high)."""

from __future__ import annotations

from typing import ClassVar

from maildesk.commands.base import CommandError, Work
from maildesk.config import parse_priority

__all__ = ["Priority"]


class Priority:
    name: ClassVar[str] = "priority"
    argument_description: ClassVar[str] = "1-5|very low|low|normal|high|very high"
    description: ClassVar[str] = "set the priority"

    def process(self, work: Work, args: list[str]) -> str:
        if not args:
            raise CommandError("/priority needs a value: 1-5 or very low, low, normal, high, "
                               "very high")
        try:
            value = parse_priority(" ".join(args))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        work.require_unlocked()
        work.require("priority")
        ticket = work.ticket
        if ticket.priority == value:
            return f"priority already {value}"
        old, ticket.priority = ticket.priority, value
        work.record("priority", old=old, new=value)
        return f"priority {old} -> {value}"
