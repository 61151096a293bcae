"""The dashboard figures: the numbers behind the supervisors' dashboard, in a few aggregate queries.

- tickets opened and closed per day: counted per UTC hour in SQL (at most 24 rows a day
  whatever the volume), folded into the supervisor's local days here, so a day is the
  supervisor's day (zones with a half-hour offset are off by that half hour at midnight);
- the backlog: open tickets by queue and state, from the counts store.rollup keeps;
- first responses against the SLA: for the newest answered tickets of the period (at most
  SAMPLE), the business time to the first answer in the queue's calendar, its median and
  90th percentile against the queue's `sla.first_response`, and how many were within it;
  plus the tickets waiting now whose first-response clock has run out (the timers' rows).

Runs on the HTTP thread pool (blocking database work), never on the event loop.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, literal_column, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from maildesk.config import Config
from maildesk.i18n import N_
from maildesk.store.models import Ticket, Timer
from maildesk.timers.calendar import between_business
from maildesk.timers.policy import queue_sla

__all__ = ["BACKLOG_GROUPS", "SAMPLE", "Backlog", "Dashboard", "Response", "collect"]

SAMPLE = 5000
# How the backlog is split: each open state falls in the first group whose prefix it has.
BACKLOG_GROUPS: tuple[tuple[str, str], ...] = (
    ("new", N_("New")),
    ("open", N_("Open")),
    ("pending", N_("Pending")),
)
OTHER = N_("Other")


@dataclass(frozen=True)
class Backlog:
    queue: str
    counts: dict[str, int]  # BACKLOG_GROUPS key (or "other") -> open tickets

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Response:
    queue: str
    answered: int  # answered tickets of the period measured (at most SAMPLE over all)
    median: float | None  # business seconds to the first answer
    p90: float | None
    target: float | None  # the queue's sla.first_response, business seconds
    within: int  # answered within the target
    overdue_now: int  # waiting for a first answer, past the target already

    @property
    def within_share(self) -> float | None:
        if self.target is None or not self.answered:
            return None
        return self.within / self.answered


@dataclass
class Dashboard:
    days: list[date]
    opened: list[int]
    closed: list[int]
    backlog: list[Backlog] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    sampled: bool = False  # more answered tickets than SAMPLE: the newest were measured


def _hour(session: Session, column: InstrumentedAttribute[Any]) -> ColumnElement[str]:
    """`YYYY-MM-DD HH` of a stored (naive UTC) time, on each backend."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return func.to_char(column, literal_column("'YYYY-MM-DD HH24'"))
    if name in ("mysql", "mariadb"):
        return func.date_format(column, literal_column("'%Y-%m-%d %H'"))
    return func.strftime("%Y-%m-%d %H", column)


def _per_day(session: Session, column: InstrumentedAttribute[Any], queues: Sequence[str],
             since: datetime, until: datetime, zone: ZoneInfo,
             days: list[date]) -> list[int]:
    hour = _hour(session, column).label("hour")
    query = (
        select(hour, func.count())
        .where(column >= since, column < until, Ticket.queue.in_(queues))
        .group_by(hour)
    )
    counts: dict[date, int] = defaultdict(int)
    for label, count in session.execute(query):
        utc = datetime.strptime(str(label), "%Y-%m-%d %H").replace(tzinfo=ZoneInfo("UTC"))
        counts[utc.astimezone(zone).date()] += int(count)
    return [counts.get(day, 0) for day in days]


def _backlog(session: Session, queues: Sequence[str]) -> list[Backlog]:
    """From the kept counts (store.rollup), as the overview: no count over the tickets."""
    from maildesk.store import rollup

    found: dict[str, dict[str, int]] = {q: {} for q in queues}
    for (queue, state), count in rollup.counts(session, list(queues)).items():
        if not count or state.startswith("closed") or state == "merged":
            continue
        group = next((key for key, _ in BACKLOG_GROUPS if state.startswith(key)), "other")
        found[queue][group] = found[queue].get(group, 0) + count
    return [Backlog(queue, counts) for queue, counts in found.items()]


def _responses(session: Session, config: Config, queues: Sequence[str], since: datetime,
               now: datetime) -> tuple[list[Response], bool]:
    rows = session.execute(
        select(Ticket.queue, Ticket.created_at, Ticket.first_response_at)
        .where(Ticket.created_at >= since, Ticket.queue.in_(queues),
               Ticket.first_response_at.is_not(None))
        .order_by(Ticket.created_at.desc())
        .limit(SAMPLE + 1)
    ).all()
    sampled = len(rows) > SAMPLE
    waits: dict[str, list[float]] = defaultdict(list)
    slas = {q: queue_sla(config, q) for q in queues}
    for queue, created, answered in rows[:SAMPLE]:
        if answered is None:
            continue
        sla = slas.get(queue)
        calendar = sla.calendar if sla is not None else None
        waits[queue].append(max(between_business(calendar, created, answered), 0.0))
    overdue: dict[str, int] = {}
    for queue, count in session.execute(
        select(Timer.queue, func.count())
        .where(Timer.kind == "first_response", Timer.queue.in_(queues),
               or_(and_(Timer.deadline.is_not(None), Timer.deadline <= now),
                   and_(Timer.remaining.is_not(None), Timer.remaining <= 0)))
        .group_by(Timer.queue)
    ):
        overdue[queue] = int(count)
    out = []
    for queue in queues:
        sla = slas.get(queue)
        target = sla.first_response if sla is not None else None
        values = sorted(waits.get(queue, []))
        out.append(Response(
            queue=queue,
            answered=len(values),
            median=statistics.median(values) if values else None,
            p90=_percentile(values, 0.9),
            target=target,
            within=sum(1 for v in values if target is not None and v <= target),
            overdue_now=int(overdue.get(queue, 0)),
        ))
    return out, sampled


def _percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return None
    rank = max(0, min(len(values) - 1, -(-len(values) * share // 1) - 1))
    return values[int(rank)]


def collect(session: Session, config: Config, queues: Sequence[str], now: datetime,
            timezone: str | None, days: int = 30) -> Dashboard:
    """The dashboard of `queues` for the `days` local days up to today (`now`: naive UTC)."""
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    today = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).date()
    day_list = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
    start_local = datetime.combine(day_list[0], datetime.min.time(), zone)
    since = start_local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    until = now + timedelta(seconds=1)
    if not queues:
        return Dashboard(day_list, [0] * days, [0] * days)
    opened = _per_day(session, Ticket.created_at, queues, since, until, zone, day_list)
    closed = _per_day(session, Ticket.closed_at, queues, since, until, zone, day_list)
    responses, sampled = _responses(session, config, queues, since, now)
    return Dashboard(day_list, opened, closed, _backlog(session, queues), responses, sampled)
