"""Events to outbox rows: the one table that says what each kind of event makes, mails
(answers, transcripts, refusals, notifications, timer notices) and webhook deliveries alike.

`dispatch` runs inside the transaction of the change that caused the events, so a row is
queued exactly when its cause commits; nothing here sends. Adding a kind is one event class
in `maildesk.events` and one row here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session

from maildesk.config import Config
from maildesk.config.http import WEBHOOK_EVENTS
from maildesk.events import Event
from maildesk.outbound import agent, customer, timed
from maildesk.outbound.queuing import together
from maildesk.outbound.webhook import queue_webhooks

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
    # timers (SPEC 13): TimerNotice
    "reminder": (timed.to_owner_or_queue,),
    "escalation": (timed.to_queue,),
    "unlocked": (timed.to_queue,),
    # webhooks (SPEC 14): WebhookDue, one kind per event name receivers subscribe to
    **{name: (queue_webhooks,) for name in WEBHOOK_EVENTS},
}


def dispatch(session: Session, config: Config, secret: bytes, events: Iterable[Event]) -> None:
    """Queue the mails these events call for; a kind without a row makes no mail. The
    outbox rows of all of them are one INSERT (`queuing.together`), written before this
    returns."""
    with together(session):
        for event in events:
            for handler in HANDLERS.get(event.kind, ()):
                handler(session, config, secret, event)
