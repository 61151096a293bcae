"""Events: what happened to a ticket, and what maildesk must tell someone about it.

Past tense, plain data. Whoever changes a ticket (the pipeline, the commands, later the
API and the timers) appends events; `maildesk.outbound.dispatch.dispatch` turns each kind
into outbox rows through one table, in the same transaction as the change that caused
them. Outbound never calls back into the code that made the event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

from maildesk.store.models import Article, OutboxMail, Ticket

if TYPE_CHECKING:  # types only: outbound must not load the intake side
    from maildesk.classify import Classification
    from maildesk.intake.message import Envelope, ParsedMail

__all__ = [
    "AnswerQueued",
    "CommandsProcessed",
    "DeliveryFailed",
    "Event",
    "LineOutcome",
    "MailRefused",
    "TicketEvent",
    "TimerNotice",
    "WebhookDue",
]


@dataclass
class TicketEvent:
    """A ticket changed: auto-responses and notifications follow (SPEC 6-8)."""

    # new | followup | closed_followup | reject | moved | autoreply_received
    kind: str
    ticket: Ticket
    article: Article | None = None
    mail: ParsedMail | None = None
    envelope: Envelope | None = None
    classification: Classification | None = None
    autoresponse: bool = True  # routing allows an auto-response
    actor: str = "system"
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class AnswerQueued:
    """An agent's text goes to the customer (and the ticket's cc list, or `cc`), with the
    answer article's files: (name, content type, bytes) as stored."""

    kind: ClassVar[str] = "answer"
    ticket: Ticket
    body: str
    agent: str
    cc: list[str] | None = None
    files: Sequence[tuple[str, str, bytes]] = ()


class LineOutcome(Protocol):
    """One line of a command block as the transcript shows it."""

    line: str
    ok: bool
    text: str


@dataclass(frozen=True)
class CommandsProcessed:
    """An agent's command block ran (or was refused as a whole): the transcript goes back."""

    kind: ClassVar[str] = "transcript"
    ticket: Ticket
    to: str
    subject: str  # the agent's subject, cleaned
    results: Sequence[LineOutcome]
    answer: LineOutcome | None  # the text above the quote, as one more step
    failed: bool  # nothing was applied
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class MailRefused:
    """A mail in an agent's name could not be verified: tell the real agent."""

    kind: ClassVar[str] = "refusal"
    ticket: Ticket
    to: str
    subject: str
    from_addr: str
    envelope_sender: str
    reason: str  # English, as history keeps it
    reasons: tuple[str, ...] = ()  # the same, each an i18n Reason where it has a msgid


@dataclass(frozen=True)
class DeliveryFailed:
    """An answer could not be delivered for good: tell its owner or the queue's agents."""

    kind: ClassVar[str] = "delivery_failed"
    ticket: Ticket
    row: OutboxMail


@dataclass(frozen=True)
class TimerNotice:
    """A due time acted (SPEC 13): `reminder` (to the owner, else the queue), `escalation`
    (an SLA warning or breach) or `unlocked` (an idle lock released), both to the queue.
    `details` fill the template `agent/<kind>.txt`."""

    kind: str  # reminder | escalation | unlocked
    ticket: Ticket
    subject: str  # the word before the ticket title: "Reminder", "Escalation", ...
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookDue:
    """A history entry that receivers subscribe to (SPEC 14), e.g. `ticket.escalated`;
    `kind` is the webhook event name, `body` the JSON every subscribed receiver gets."""

    kind: str
    ticket: Ticket
    body: dict[str, object]


Event = (TicketEvent | AnswerQueued | CommandsProcessed | MailRefused | DeliveryFailed
         | TimerNotice | WebhookDue)
