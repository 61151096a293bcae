"""Ticket events the pipeline and commands record, for the outbound side to answer.

Past tense, plain data. `maildesk.outbound.respond.respond` turns them into outbox rows in
the same transaction as the change that caused them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from maildesk.classify import Classification
from maildesk.intake.message import Envelope, ParsedMail
from maildesk.store.models import Article, Ticket

__all__ = ["TicketEvent"]


@dataclass
class TicketEvent:
    # new | followup | closed_followup | reject | moved | autoreply_received | answer | note
    kind: str
    ticket: Ticket
    article: Article | None = None
    mail: ParsedMail | None = None
    envelope: Envelope | None = None
    classification: Classification | None = None
    autoresponse: bool = True  # routing allows an auto-response
    actor: str = "system"
    details: dict[str, object] = field(default_factory=dict)
