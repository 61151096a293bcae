"""What the config says about time, per queue: its SLA, its calendar, its helpdesk level,
and the instance's lock timeout and time zone. The one place the timers read the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from maildesk.config import Config
from maildesk.timers.calendar import Calendar

__all__ = ["SLA_CLOCKS", "Sla", "lock_timeout", "queue_calendar", "queue_sla", "queue_level",
           "timezone_for"]

SLA_CLOCKS = ("first_response", "update", "solution")


@dataclass(frozen=True)
class Sla:
    first_response: float | None = None  # seconds of business time
    update: float | None = None
    solution: float | None = None
    calendar: Calendar | None = None  # None: 24x7
    warn_before: float = 0.0

    def duration(self, clock: str) -> float | None:
        value: float | None = getattr(self, clock)
        return value


def queue_sla(config: Config, queue: str) -> Sla | None:
    q = config.queue(queue)
    sla = q.sla if q is not None else None
    if sla is None:
        return None
    calendar = config.calendars.get(sla.calendar) if sla.calendar else None
    return Sla(sla.first_response, sla.update, sla.solution, calendar, sla.warn_before or 0.0)


def queue_calendar(config: Config, queue: str) -> Calendar | None:
    """The calendar of the queue's SLA, if it names one (helpdesk levels count in it too)."""
    sla = queue_sla(config, queue)
    return sla.calendar if sla is not None else None


def queue_level(config: Config, queue: str) -> tuple[str, float] | None:
    """(second-level queue, seconds unanswered) when the queue hands tickets on."""
    q = config.queue(queue)
    if q is None or not q.escalate_to or not q.escalate_after:
        return None
    return q.escalate_to, q.escalate_after


def lock_timeout(config: Config) -> float | None:
    return config.instance.lock_timeout or None


def timezone_for(config: Config, queue: str) -> ZoneInfo:
    """A bare date in a command: the queue's calendar's zone, else the instance's."""
    calendar = queue_calendar(config, queue)
    if calendar is not None:
        return calendar.timezone
    return ZoneInfo(config.instance.timezone)
