"""/merge TICKET: merge this ticket INTO the named one.

The articles and history of this ticket move to the survivor; this ticket becomes
`merged` with `merged_into_id` pointing there, so later mail to it threads to the survivor
(core/threads.py follows the pointer). Tags are joined; the cc list is not, since another
customer's copy recipients must not start getting this customer's answers. Needs `merge`
in both queues. Nothing may follow /merge in the same mail: every later command would act
on a ticket that is gone.
"""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import select, update

from maildesk.commands.base import CommandError, Work
from maildesk.commands.util import one_argument
from maildesk.core.tickets import record, set_state
from maildesk.marks import tag_pattern
from maildesk.store.models import Article, History, Ticket

__all__ = ["Merge"]


class Merge:
    name: ClassVar[str] = "merge"
    argument_description: ClassVar[str] = "TICKET"
    description: ClassVar[str] = "merge this ticket into another (its number)"

    def process(self, work: Work, args: list[str]) -> str:
        text = one_argument(self.name, args, "ticket number")
        m = tag_pattern(work.config.instance.ticket_hook).search(f"[{text}]") \
            if not text.isdigit() else None
        number = m.group(1) if m else text.lstrip("#")
        if not number.isdigit():
            raise CommandError(f"not a ticket number: {text!r}")
        ticket, session = work.ticket, work.session
        target = session.execute(select(Ticket).where(Ticket.number == number)) \
            .scalar_one_or_none()
        if target is None:
            raise CommandError(f"no ticket {number}")
        if target.id == ticket.id:
            raise CommandError("a ticket cannot be merged into itself")
        if target.merged_into_id is not None or target.state == "merged":
            raise CommandError(f"ticket {number} is itself merged; merge into the ticket it "
                               "was merged into")
        work.require_unlocked()
        work.require("merge")
        work.require("merge", target.queue)
        if target.locked and target.owner and target.owner != work.actor.address:
            raise CommandError(f"ticket {number} is locked by {target.owner}")
        session.flush()
        session.execute(update(Article).where(Article.ticket_id == ticket.id)
                        .values(ticket_id=target.id))
        session.execute(update(History).where(History.ticket_id == ticket.id)
                        .values(ticket_id=target.id))
        session.expire(ticket, ["articles", "history"])
        session.expire(target, ["articles", "history"])
        target.tags = sorted(set(target.tags) | set(ticket.tags))
        set_state(session, ticket, "merged", work.actor.label, via=work.actor.via,
                  into=target.number)
        ticket.merged_into_id = target.id
        ticket.locked = False
        work.record("merged", into=target.number)
        record(session, target, "merged", work.actor.label, via=work.actor.via,
               source=ticket.number)
        work.merged_into = target
        return f"merged into ticket {target.number}"
