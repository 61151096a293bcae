"""The reminder mails of a batch of due times (bulk.py): what `outbound.timed` queues for
one reminder (`notice_spec`: the same deferred Spec, rendered by the sender), for every
reminder of the batch, with the outbox rows in one multi-row INSERT whose ids come back
in order and their Message-IDs indexed in another. What repeats across the batch (the
recipients of a queue, the addresses' and the template's checks) is worked out once.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from maildesk.config import Agent
from maildesk.outbound.compose import queue_agents
from maildesk.outbound.deferred import Spec
from maildesk.outbound.failures import BUILD_FAILED
from maildesk.outbound.render import check_address, clean_header, find_template, new_message_id
from maildesk.outbound.timed import notice_spec
from maildesk.store.models import MessageIdRow, OutboxMail, Ticket, dumps

if TYPE_CHECKING:
    from maildesk.runtime import Runtime

__all__ = ["Reminders", "entry"]

log = logging.getLogger("maildesk.outbox")  # where guarded() logs a mail it could not build

_OUTBOX = cast(Table, OutboxMail.__table__)
_MESSAGE_IDS = cast(Table, MessageIdRow.__table__)


def entry(ticket_id: int, event: str, actor: str, at: datetime, **details: object
           ) -> dict[str, object]:
    """One history row, as core.tickets.record writes it."""
    return {"ticket_id": ticket_id, "event": event, "actor": actor, "at": at,
            "details_json": dumps(details)}


class Reminders:
    """The batch's reminder mails: specs built ticket by ticket, rows inserted at once."""

    def __init__(self, session: Session, rt: Runtime, stamp: datetime) -> None:
        self.session, self.config, self.secret, self.stamp = session, rt.config, rt.secret, stamp
        self.rows: list[dict[str, object]] = []
        self.notes: list[tuple[int, str, str, str | None]] = []  # ticket, to, id, error
        self.agents: dict[str, list[Agent]] = {}
        self.checked: dict[str, str] = {}  # address -> as check_address gives it back
        self.templates: set[str] = set()  # languages whose reminder template was found

    def recipients(self, ticket: Ticket) -> list[Agent]:
        """The owner, else every agent who may read the queue (timed.to_owner_or_queue)."""
        owner = self.config.agent(ticket.owner) if ticket.owner else None
        if owner is not None:
            return [owner]
        if ticket.queue not in self.agents:
            self.agents[ticket.queue] = queue_agents(self.config, ticket.queue)
        return self.agents[ticket.queue]

    def add(self, ticket: Ticket, agent: Agent, details: dict[str, object]) -> int:
        """Queue one reminder; a mail that cannot be built costs that mail only, as
        `outbound.failures.guarded` has it (a failed row, a history line, a log line)."""
        values: dict[str, object] = {
            "ticket_id": ticket.id, "kind": "notification", "attempts": 0,
            "next_attempt_at": self.stamp, "created_at": self.stamp, "settle_failures": 0}
        try:
            spec, message_id = notice_spec(self.config, self.secret, ticket, agent,
                                           "reminder", details)
            address = self.check(spec)
            values.update(mail_from=self.config.outbound.bounce_address,
                          rcpt_json=json.dumps([address]), to_addr=address,
                          subject=clean_header(spec.subject) or "(no subject)",
                          message_id=message_id, raw=b"",
                          spec_json=json.dumps(vars(spec), separators=(",", ":")),
                          state="queued", last_error=None)
            error = None
        except SQLAlchemyError:
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            log.error("ticket %s: %s to %s failed: %s", ticket.number, "notification",
                      agent.address or "-", error, extra={"outbound_failure": True})
            message_id = new_message_id(self.config.instance.domain)
            values.update(mail_from="", rcpt_json=json.dumps([agent.address]),
                          to_addr=agent.address[:512], subject=ticket.title[:900],
                          message_id=message_id, raw=b"", spec_json=None, state="failed",
                          last_error=f"{BUILD_FAILED}: {error}")
        self.rows.append(values)
        self.notes.append((ticket.id, agent.address, message_id, error))
        return len(self.rows) - 1

    def check(self, spec: Spec) -> str:
        """`Spec.check` with what repeats across the batch checked once (the agents' and
        queues' addresses, the template per language); the reply address carries the
        ticket's token and is checked every time. Returns the recipient as enqueue has it."""
        for address in (spec.from_addr, *(a for _n, a in spec.to)):
            if address not in self.checked:
                self.checked[address] = check_address(address)
        if spec.reply_to:
            self.check_reply(spec.reply_to)
        if spec.language not in self.templates:
            find_template(self.config, spec.template, spec.language)
            self.templates.add(spec.language)
        return self.checked[spec.to[0][1]]

    def check_reply(self, address: str) -> None:
        """A reply address is `local+TOKEN@domain`, the token letters and digits: whether
        it passes depends on the rest and on the token's length only, so one address per
        shape is checked (the grammar check costs ~0.1 ms; a batch has one per mail)."""
        local, plus, rest = address.partition("+")
        token, at, domain = rest.partition("@")
        if not (plus and at and token.isascii() and token.isalnum()):
            check_address(address)
            return
        shape = f"{local}+{'x' * len(token)}@{domain}"
        if shape not in self.checked:
            self.checked[shape] = check_address(shape)

    def insert(self) -> list[int]:
        """The rows in one multi-row INSERT, their ids in order; the queued ones' Message-IDs
        into the threading index (core.tickets.index_message_id).

        The ids come back with each row's Message-ID (fresh for every row, queued or
        failed), which says whose id it is: asking SQLAlchemy for them in parameter order
        makes it INSERT row by row on SQLite."""
        if not self.rows:
            return []
        if self.session.get_bind().dialect.insert_executemany_returning:
            result = self.session.execute(
                insert(_OUTBOX).returning(_OUTBOX.c.id, _OUTBOX.c.message_id), self.rows)
            by_message = {message_id: int(i) for i, message_id in result}
            ids = [by_message[str(row["message_id"])] for row in self.rows]
        else:  # a backend without INSERT ... RETURNING for many rows: one at a time
            ids = [int(cast(Any, self.session.execute(insert(_OUTBOX), row))
                       .inserted_primary_key[0]) for row in self.rows]
        index = [{"message_id": message_id[:191], "ticket_id": ticket_id, "direction": "out",
                  "outbox_id": ids[n], "created_at": self.stamp}
                 for n, (ticket_id, _to, message_id, error) in enumerate(self.notes)
                 if error is None]
        if index:
            self.session.execute(insert(_MESSAGE_IDS), index)
        return ids

    def history(self, n: int, outbox_id: int) -> dict[str, object]:
        ticket_id, to, message_id, error = self.notes[n]
        if error is not None:
            return entry(ticket_id, "notification failed", "system", self.stamp, to=to,
                          outbox=outbox_id, error=error)
        return entry(ticket_id, "notification sent", "system", self.stamp, cause="reminder",
                      to=to, outbox=outbox_id, message_id=message_id, state="queued")
