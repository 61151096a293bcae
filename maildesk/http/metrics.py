"""Prometheus metrics of one `serve` process, on a private registry (tests make many apps).

Counters and histograms are updated inline (ingest results and latency through
`App.observe`, HTTP requests by a middleware). What lives in the database (tickets per
queue and state, outbox rows per state and the age of the oldest, escalations) is read by
`refresh` on a thread every REFRESH seconds, never inside a scrape: the exposition runs on
the event loop, and a query there would stall SMTP and HTTP alike.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maildesk.customers.cache import LookupCollector
from maildesk.store.models import OutboxMail, utcnow

if TYPE_CHECKING:
    from maildesk.app import App
    from maildesk.outcome import Outcome
    from maildesk.runtime import Runtime

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "RequestMetrics"]

REFRESH = 15.0  # seconds between database-derived gauge updates
ESCALATION_EVENTS = ("escalated", "escalation")


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.mails = Counter("maildesk_mails", "Mails ingested, by result", ["result"],
                             registry=r)
        self.ingest_seconds = Histogram(
            "maildesk_ingest_seconds", "Time from a mail's last byte to its outcome",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=r)
        self.http = Counter("maildesk_http_requests", "HTTP requests, by route and status",
                            ["method", "route", "code"], registry=r)
        self.http_seconds = Histogram("maildesk_http_request_seconds",
                                      "HTTP request duration, by route", ["route"], registry=r)
        self.outbox = Gauge("maildesk_outbox_messages", "Outbox rows, by state", ["state"],
                            registry=r)
        self.outbox_age = Gauge("maildesk_outbox_oldest_seconds",
                                "Age of the oldest outbox row, by state", ["state"], registry=r)
        self.tickets = Gauge("maildesk_tickets", "Tickets, by queue and state",
                             ["queue", "state"], registry=r)
        self.escalations = Counter("maildesk_escalations",
                                   "Ticket escalations recorded (SPEC 13)", registry=r)
        self.refreshed = Gauge("maildesk_metrics_refreshed_timestamp_seconds",
                               "When the database-derived gauges were last read", registry=r)
        self.mailbox_success = Gauge(
            "maildesk_mailbox_last_success_timestamp_seconds",
            "When each mailbox was last fetched without error (SPEC 17)", ["mailbox"],
            registry=r)
        self.mailbox_error = Gauge(
            "maildesk_mailbox_last_error_timestamp_seconds",
            "When fetching each mailbox last failed", ["mailbox"], registry=r)
        self.mailbox_auth_failed = Gauge(
            "maildesk_mailbox_auth_failed", "1 while the mailbox's login is refused",
            ["mailbox"], registry=r)
        self.mailbox_fetched = Gauge("maildesk_mailbox_fetched",
                                     "Mails fetched from each mailbox, all daemons together",
                                     ["mailbox"], registry=r)
        r.register(LookupCollector())  # maildesk_customer_lookups (maildesk.customers.cache)
        from maildesk.kb.metrics import KbMetrics

        self.kb = KbMetrics(r)  # knowledge base suggestions and /solved
        self._history_seen: int | None = None

    def observe_ingest(self, outcome: Outcome, seconds: float) -> None:
        self.mails.labels(outcome.result).inc()
        self.ingest_seconds.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def refresh(self, app: App) -> None:
        """Read the database-derived gauges; runs on a worker thread, on the runtime of
        this moment (taken once: one database, one config for the whole refresh)."""
        from maildesk.core import queries

        now = utcnow()
        rt = app.runtime
        with rt.db.reading() as session:
            outbox = session.execute(
                select(OutboxMail.state, func.count(), func.min(OutboxMail.created_at))
                .group_by(OutboxMail.state)).all()
            tickets = queries.ticket_counts(session)
            last = queries.last_history_id(session)
            escalated = 0
            if self._history_seen is None or last > self._history_seen:
                escalated = queries.events_between(session, self._history_seen, last,
                                                   ESCALATION_EVENTS)
            self.kb.refresh(session, self._history_seen, last)
        self._history_seen = last
        self.outbox.clear()
        self.outbox_age.clear()
        for state, count, oldest in outbox:
            self.outbox.labels(state).set(count)
            if oldest is not None:
                self.outbox_age.labels(state).set(max(0.0, (now - oldest).total_seconds()))
        self.tickets.clear()
        for queue, state, count in tickets:
            self.tickets.labels(queue, state).set(count)
        if escalated:
            self.escalations.inc(escalated)
        self._refresh_mailboxes(rt)
        self.refreshed.set(time.time())

    def _refresh_mailboxes(self, app: Runtime) -> None:
        from maildesk.mailboxes.state import metric_rows

        gauges = (self.mailbox_success, self.mailbox_error, self.mailbox_auth_failed,
                  self.mailbox_fetched)
        for gauge in gauges:
            gauge.clear()
        names = [m.name for m in app.config.mailboxes]
        for name, values in metric_rows(app.db, names).items():
            for gauge, value in zip(gauges, values, strict=True):
                if value is not None:
                    gauge.labels(name).set(value)


class RequestMetrics:
    """Counts every response by the route's path template (not the raw path: one series
    per route, whatever the ticket numbers)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route = getattr(scope.get("route"), "path", None) or "(unmatched)"
            self.metrics.http.labels(scope["method"], route, str(status)).inc()
            self.metrics.http_seconds.labels(route).observe(time.perf_counter() - started)
