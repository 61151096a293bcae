"""Events to outbox rows: the one table that says which mails each kind of event makes.

`dispatch` runs inside the transaction of the change that caused the events, so a mail is
queued exactly when its cause commits; nothing here sends. Adding a kind (escalations,
webhooks) is one event class in `maildesk.events` and one row here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session

from maildesk.config import Config
from maildesk.events import Event
from maildesk.outbound import agent, customer

__all__ = ["HANDLERS", "dispatch"]

Handler = Callable[[Session, Config, bytes, Any], object]

# event kind -> what it makes, in order. Handlers for ticket events guard each mail (a
# broken template costs that mail, see failures.py); an answer is not guarded: its failure
# fails the command block that asked for it.
HANDLERS: dict[str, tuple[Handler, ...]] = {
    "new": (customer.autorespond, agent.notify),
    "followup": (customer.autorespond, agent.notify),
    "closed_followup": (customer.autorespond, agent.notify),
    "reject": (customer.autorespond,),
    "autoreply_received": (agent.notify,),
    "moved": (agent.notify,),
    "answer": (customer.answer,),
    "transcript": (agent.transcript,),
    "refusal": (agent.refusal,),
    "delivery_failed": (agent.delivery_failed,),
}


def dispatch(session: Session, config: Config, secret: bytes, events: Iterable[Event]) -> None:
    """Queue the mails these events call for; a kind without a row makes no mail."""
    for event in events:
        for handler in HANDLERS.get(event.kind, ()):
            handler(session, config, secret, event)
