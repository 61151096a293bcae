"""Webhook deliveries as outbox rows (SPEC 14): one row per receiver subscribed to the
event's kind, POSTed later by the sender (maildesk.webhooks.post) with the outbox's retries.
The body is the same for every receiver; each delivery has its own id, the same on every
retry of it, for the receiver to deduplicate on."""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from maildesk.config import Config
from maildesk.events import WebhookDue
from maildesk.store.models import OutboxMail, dumps, utcnow

__all__ = ["queue_webhooks"]


def queue_webhooks(session: Session, config: Config, secret: bytes, event: WebhookDue) -> None:
    for hook in config.webhooks:
        if event.kind in hook.events:
            session.add(_row(hook.url, event))


def _row(url: str, event: WebhookDue) -> OutboxMail:
    delivery = f"wh-{secrets.token_hex(12)}"
    now = utcnow()
    return OutboxMail(ticket_id=event.ticket.id, kind="webhook", mail_from="",
                      rcpt_json=dumps([url]), to_addr=url[:512], subject=event.kind,
                      message_id=delivery, raw=dumps({"id": delivery, **event.body}).encode(),
                      state="queued", attempts=0, next_attempt_at=now, created_at=now)
