"""One mail in the core: `Incoming` (what the core stores of it) and `Context` (what one
mail's trip knows: the runtime it captured, its transaction, the events it made).

The pipeline makes a `Context`; the core's mail operations (`core.followups`), the agents'
mail (`agents`) and `/solved` (`kb.solved`) take it. It lives here, below all of them, so
none of them imports the pipeline, not even for a type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from maildesk.customers.record import CustomerRecord
from maildesk.events import TicketEvent
from maildesk.intake.message import Envelope, ParsedMail

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from maildesk.classify import Classification
    from maildesk.runtime import Runtime
    from maildesk.store.models import Article, Ticket

__all__ = ["Context", "Incoming"]


@dataclass(frozen=True)
class Incoming:
    """One mail as the core stores it: the bytes, what parsing and classifying made of
    them, and the keys that find it again (`raw` sha256, the trace-free content key)."""

    raw: bytes
    mail: ParsedMail
    envelope: Envelope
    classification: Classification
    digest: str
    content_key: str | None = None
    # what a configured directory (SQL, LDAP) knows of the sender, asked before the
    # transaction (maildesk.customers.lookup); a new ticket's customer row takes it
    directory: CustomerRecord | None = None


@dataclass
class Context:
    """Everything one mail's trip through the pipeline knows; `rt` is the runtime the
    mail captured when it entered (one config for the whole trip)."""

    rt: Runtime
    session: Session
    raw: bytes
    digest: str
    mail: ParsedMail
    envelope: Envelope
    classification: Classification
    events: list[TicketEvent] = field(default_factory=list)
    content_key: str | None = None  # the mail without its trace headers (intake.contentkey)
    directory: CustomerRecord | None = None  # the sender in a directory (customers.lookup)
    directory_down: bool = False  # a directory could not answer for the sender now

    @property
    def app(self) -> Runtime:
        """The runtime, under its old name (code written when this was the App)."""
        return self.rt

    def incoming(self) -> Incoming:
        """This mail as the core's operations take it."""
        return Incoming(self.raw, self.mail, self.envelope, self.classification, self.digest,
                        self.content_key, self.directory)

    def event(self, kind: str, ticket: Ticket, article: Article | None,
              autoresponse: bool = True, **details: object) -> TicketEvent:
        """A ticket event caused by this mail; appended to `events` for the dispatch."""
        made = TicketEvent(kind=kind, ticket=ticket, article=article, mail=self.mail,
                           envelope=self.envelope, classification=self.classification,
                           autoresponse=autoresponse, details=dict(details))
        self.events.append(made)
        return made
