"""/close, /reopen and /pending: the state commands, all under the `close` permission."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

from maildesk.commands.base import CommandError, Work
from maildesk.commands.util import no_arguments
from maildesk.store.models import utcnow
from maildesk.tickets import set_state

__all__ = ["Close", "Pending", "Reopen"]


def _change(work: Work, state: str, **details: object) -> None:
    work.require_unlocked()
    work.require("close")
    set_state(work.session, work.ticket, state, work.agent.address, via="mail", **details)


class Close:
    name: ClassVar[str] = "close"
    argument_description: ClassVar[str] = "[successful|unsuccessful]"
    description: ClassVar[str] = "close the ticket (successful unless you say otherwise)"

    def process(self, work: Work, args: list[str]) -> str:
        how = (args[0].lower() if args else "successful")
        if len(args) > 1 or how not in ("successful", "unsuccessful"):
            raise CommandError("/close takes successful or unsuccessful, not "
                               f"{' '.join(args)!r}")
        state = f"closed {how}"
        if work.ticket.state == state:
            return f"already {state}"
        _change(work, state)
        work.ticket.pending_until = None
        return state


class Reopen:
    name: ClassVar[str] = "reopen"
    argument_description: ClassVar[str] = ""
    description: ClassVar[str] = "open a closed or pending ticket again"

    def process(self, work: Work, args: list[str]) -> str:
        no_arguments(self.name, args)
        if work.ticket.state in ("new", "open"):
            return f"already {work.ticket.state}"
        _change(work, "open")
        work.ticket.pending_until = None
        return "open"


class Pending:
    name: ClassVar[str] = "pending"
    argument_description: ClassVar[str] = "YYYY-MM-DD [reminder|auto-close]"
    description: ClassVar[str] = "wait until a date, then remind the owner or close"

    def process(self, work: Work, args: list[str]) -> str:
        if not args or len(args) > 2:
            raise CommandError("/pending needs a date and optionally reminder or auto-close, "
                               "e.g. /pending 2026-12-24 reminder")
        try:
            until = date.fromisoformat(args[0])
        except ValueError:
            raise CommandError(f"not a date: {args[0]!r} (write YYYY-MM-DD)") from None
        if until <= utcnow().date():
            raise CommandError(f"{until.isoformat()} is not in the future")
        kind = args[1].lower() if len(args) > 1 else "reminder"
        if kind not in ("reminder", "auto-close"):
            raise CommandError(f"/pending takes reminder or auto-close, not {args[1]!r}")
        state = f"pending {kind}"
        _change(work, state, until=until.isoformat())
        work.ticket.pending_until = datetime(until.year, until.month, until.day)
        if work.ticket.state == state:
            work.record("pending", until=until.isoformat())
        return f"{state} until {until.isoformat()}"
