"""History rows -> `WebhookDue` events, behind a cursor kept in the `counters` table; the
dispatch table (outbound/dispatch.py) turns each into an outbox row per subscribed receiver.

The cursor row is locked for the transaction (SQLite's write lock does the same), so two
daemons never queue one event twice. A history row is taken once it is SETTLE seconds
old: ids are handed out at INSERT, before the commit, and a transaction still open
could otherwise commit a lower id after the cursor passed it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maildesk.events import WebhookDue
from maildesk.outbound.dispatch import dispatch
from maildesk.store.db import insert_ignore
from maildesk.store.models import Counter, History, Ticket, utcnow
from maildesk.views import iso, ticket_summary

if TYPE_CHECKING:
    from maildesk.app import App

__all__ = ["EVENTS", "pump", "run_pump"]

log = logging.getLogger("maildesk.webhooks")

CURSOR = "webhooks.history"
SETTLE = timedelta(seconds=2)
BATCH = 500
EVERY = 1.0  # seconds between looks at the history
EVENTS = {"created": "ticket.created", "article added": "article.added",
          "state": "ticket.state", "queue": "ticket.queue", "escalated": "ticket.escalated",
          "escalation": "ticket.escalated"}  # a level move, and an SLA clock's breach


def pump(app: App) -> int:
    """Queue the webhook deliveries of new history; the number of rows queued. One pass
    runs on one runtime, captured here (a reload applies to the next pass)."""
    rt = app.runtime
    hooks = rt.config.webhooks
    if not hooks:
        return 0

    def attempt(session: Session) -> int:
        cursor = session.execute(select(Counter).where(Counter.name == CURSOR)
                                 .with_for_update()).scalar_one_or_none()
        if cursor is None:  # webhooks just configured: from now on, not the whole past
            start = session.execute(select(func.max(History.id))).scalar() or 0
            insert_ignore(session, Counter, name=CURSOR, value=start)
            return 0
        settled = utcnow() - SETTLE
        rows = session.execute(
            select(History, Ticket).join(Ticket, Ticket.id == History.ticket_id)
            .where(History.id > cursor.value).order_by(History.id).limit(BATCH)).all()
        queued = 0
        for history, ticket in rows:
            if history.at > settled:
                break
            cursor.value = history.id
            event = EVENTS.get(history.event)
            if event is None:
                continue
            body = {"event": event, "at": iso(history.at), "actor": history.actor,
                    "details": json.loads(history.details_json or "{}"),
                    "ticket": ticket_summary(ticket)}
            queued += sum(event in hook.events for hook in hooks)
            dispatch(session, rt.config, rt.secret, [WebhookDue(event, ticket, body)])
        return queued

    return rt.db.run(attempt)


async def run_pump(app: App, stop: asyncio.Event) -> None:
    """serve's task: look every EVERY seconds until `stop`."""
    while not stop.is_set():
        try:
            queued = await asyncio.to_thread(pump, app)
            if queued:
                log.info("queued %d webhook deliveries", queued)
        except Exception as exc:  # the database away: the cursor waits, nothing is lost
            log.warning("webhooks: %s", exc)
        try:
            await asyncio.wait_for(stop.wait(), EVERY)
        except TimeoutError:
            pass
