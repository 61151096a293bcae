"""/cc add|remove ADDRESS: who gets copies of answers.

Adding a recipient sends ticket content to a new address, the Zendesk 2024 lesson, so it
is only ever done here (the mail is authenticated before any command runs) with the
`reply` permission, for one plain, deliverable address that is not one of our own.
"""

from __future__ import annotations

from typing import ClassVar

from maildesk.commands.base import CommandError, Work

__all__ = ["Cc"]


class Cc:
    name: ClassVar[str] = "cc"
    argument_description: ClassVar[str] = "add|remove ADDRESS"
    description: ClassVar[str] = "add or remove a copy recipient of answers"

    def process(self, work: Work, args: list[str]) -> str:
        if len(args) != 2 or args[0].lower() not in ("add", "remove"):
            raise CommandError("write /cc add ADDRESS or /cc remove ADDRESS")
        action, address = args[0].lower(), args[1].strip("<>")
        from maildesk.outbound.render import InvalidAddress, check_address

        try:
            address = check_address(address).lower()
        except InvalidAddress:
            raise CommandError(f"not a plain mail address: {args[1]!r}") from None
        work.require_unlocked()
        work.require("reply")
        ticket = work.ticket
        if action == "add":
            if work.config.is_system_address(address):
                raise CommandError(f"{address} is one of this helpdesk's own addresses")
            if address == ticket.customer or address in ticket.cc:
                return f"{address} already gets the answers"
            ticket.cc = [*ticket.cc, address]
            work.record("cc", added=address)
            return f"added {address}"
        if address not in ticket.cc:
            return f"{address} was not on the cc list"
        ticket.cc = [a for a in ticket.cc if a != address]
        work.record("cc", removed=address)
        return f"removed {address}"
