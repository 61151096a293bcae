"""What a due time does when it comes (SPEC 13). Each action runs in the transaction that
claimed its row, as the system actor, and first checks that its cause still holds (a
customer who wrote meanwhile ended the pending state, an answer stopped the clock): the
row is then simply gone, and the before-commit sync rebuilds whatever still applies.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from maildesk.core.actors import Actor
from maildesk.core.tickets import record, set_state
from maildesk.events import TicketEvent, TimerNotice
from maildesk.outbound.dispatch import dispatch
from maildesk.store.models import Ticket, Timer
from maildesk.timers.calendar import between_business
from maildesk.timers.due import BREACHED, WARNED
from maildesk.timers.policy import SLA_CLOCKS, queue_level, queue_sla

if TYPE_CHECKING:
    from maildesk.runtime import Runtime  # what a batch captured: one config

__all__ = ["SYSTEM", "fire", "iso"]

ACTOR = Actor.system(via="timer")  # who the timers act as
SYSTEM = ACTOR.label
CLOCK_NAMES = {"first_response": "first response", "update": "update", "solution": "solution"}


def fire(session: Session, rt: Runtime, row: Timer, ticket: Ticket | None,
         now: datetime) -> str:
    """Act on one due row; returns what happened (for logs and counts)."""
    if ticket is None:
        session.delete(row)
        return "gone"
    if row.kind in SLA_CLOCKS:
        return _clock(session, rt, row, ticket, now)
    session.delete(row)  # one-shot kinds; the sync re-creates a row that still applies
    if row.kind == "reminder":
        return _reminder(session, rt, ticket, now)
    if row.kind == "auto-close":
        return _auto_close(session, ticket, now)
    if row.kind == "level":
        return _level(session, rt, row, ticket)
    if row.kind == "lock":
        return _unlock(session, rt, ticket)
    return "unknown"


def _reminder(session: Session, rt: Runtime, ticket: Ticket, now: datetime) -> str:
    if ticket.state != "pending reminder" or not _reached(ticket, now):
        return "stale"
    until = ticket.pending_until
    set_state(session, ticket, "open", SYSTEM, reason="pending reminder reached")
    ticket.pending_until = None
    record(session, ticket, "reminder", SYSTEM, until=iso(until))
    dispatch(session, rt.config, rt.secret,
             [TimerNotice("reminder", ticket, "Reminder", {"until": iso(until)})])
    return "reminder"


def _auto_close(session: Session, ticket: Ticket, now: datetime) -> str:
    if ticket.state != "pending auto-close" or not _reached(ticket, now):
        return "stale"
    until = ticket.pending_until
    set_state(session, ticket, "closed successful", SYSTEM, reason="pending auto-close",
              until=iso(until))
    ticket.pending_until = None
    return "auto-close"


def _level(session: Session, rt: Runtime, row: Timer, ticket: Ticket) -> str:
    level = queue_level(rt.config, ticket.queue)
    if (level is None or row.queue != ticket.queue or ticket.is_closed
            or ticket.state.startswith("pending") or ticket.first_response_at is not None):
        return "stale"
    target = level[0]
    old, ticket.queue = ticket.queue, target
    record(session, ticket, "queue", SYSTEM, old=old, new=target, reason="escalate_after")
    record(session, ticket, "escalated", SYSTEM, old=old, new=target, level=target)
    dispatch(session, rt.config, rt.secret,
             [TicketEvent(kind="moved", ticket=ticket, actor=SYSTEM, details={"old": old})])
    return "level"


def _unlock(session: Session, rt: Runtime, ticket: Ticket) -> str:
    if not ticket.locked:
        return "stale"
    owner = ticket.owner
    ticket.locked = False
    record(session, ticket, "unlock", SYSTEM, reason="timeout", owner=owner)
    dispatch(session, rt.config, rt.secret,
             [TimerNotice("unlocked", ticket, "Lock released", {"owner": owner or ""})])
    return "unlock"


def _clock(session: Session, rt: Runtime, row: Timer, ticket: Ticket, now: datetime) -> str:
    sla = queue_sla(rt.config, ticket.queue)
    if sla is None or row.deadline is None or row.stage >= BREACHED:
        row.due_at = None
        return "stale"
    clock = CLOCK_NAMES.get(row.kind, row.kind)
    breach = row.due_at is None or row.due_at >= row.deadline or now >= row.deadline
    left = between_business(sla.calendar, now, row.deadline)
    if breach:
        row.stage, row.due_at = BREACHED, None
        event = "escalation"
    else:
        row.stage, row.due_at = WARNED, row.deadline
        event = "escalation warning"
    record(session, ticket, event, SYSTEM, clock=row.kind, deadline=iso(row.deadline))
    dispatch(session, rt.config, rt.secret, [TimerNotice(
        "escalation", ticket, "Escalation" if breach else "Escalation warning",
        {"clock": clock, "clock_id": row.kind, "breach": breach,
         "deadline": iso(row.deadline), "left": _span(abs(left)), "over": left < 0})])
    if breach:
        _escalated(session, rt, ticket, row)
    return event


def _escalated(session: Session, rt: Runtime, ticket: Ticket, row: Timer) -> None:
    """The event of a breach (no mail of its own; the webhook comes from the history)."""
    dispatch(session, rt.config, rt.secret,
             [TicketEvent(kind="escalated", ticket=ticket, actor=SYSTEM,
                          details={"clock": row.kind, "deadline": iso(row.deadline)})])


def _reached(ticket: Ticket, now: datetime) -> bool:
    return ticket.pending_until is not None and ticket.pending_until <= now


def iso(value: datetime | None) -> str | None:
    """A due time in history details and templates: `2026-12-01T10:00:00Z`."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _span(seconds: float) -> str:
    """`1d 2h 5m` (or seconds, for the short clocks of tests)."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "",
             f"{minutes}m" if minutes else ""]
    return " ".join(p for p in parts if p)
