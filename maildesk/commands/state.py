"""/close, /reopen and /pending: the state commands, all under the `close` permission."""

from __future__ import annotations

from typing import ClassVar

from maildesk.commands.base import CommandError, Work
from maildesk.commands.util import no_arguments
from maildesk.core.tickets import set_state
from maildesk.store.models import utcnow
from maildesk.timers.policy import timezone_for
from maildesk.timers.when import parse_when

__all__ = ["Close", "Pending", "Reopen"]

KINDS = ("reminder", "auto-close")


def _change(work: Work, state: str, **details: object) -> None:
    work.require_unlocked()
    work.require("close")
    set_state(work.session, work.ticket, state, work.actor.label, via=work.actor.via,
              **details)


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
    argument_description: ClassVar[str] = "reminder|auto-close DATE [HH:MM] | +2d"
    description: ClassVar[str] = "wait until then, then remind the owner or close"

    def process(self, work: Work, args: list[str]) -> str:
        kinds = [a for a in args if a.lower() in KINDS]
        when_text = " ".join(a for a in args if a.lower() not in KINDS)
        if len(kinds) > 1 or not when_text or (kinds and args[0] != kinds[0]
                                                and args[-1] != kinds[0]):
            raise CommandError("/pending needs a date (or +2d) and reminder or auto-close, "
                               "e.g. /pending reminder 2026-12-24 10:00, /pending auto-close "
                               "+7d")
        kind = kinds[0].lower() if kinds else "reminder"
        zone = timezone_for(work.config, work.ticket.queue)
        try:
            until = parse_when(when_text, zone, utcnow())
        except ValueError as exc:
            last = args[-1]
            if len(args) > 1 and last.isalpha():
                raise CommandError(f"/pending takes reminder or auto-close, not {last!r}"
                                   ) from None
            raise CommandError(str(exc)) from None
        shown = until.strftime("%Y-%m-%dT%H:%M:%SZ")
        state = f"pending {kind}"
        already = work.ticket.state == state
        _change(work, state, until=shown)
        if already:
            work.record("pending", until=shown)
        work.ticket.pending_until = until
        return f"{state} until {shown}"
