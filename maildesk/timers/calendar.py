"""Business time: weekly hours, holidays and a time zone (SPEC 13's `calendars:`).

Written over `zoneinfo` rather than taken from a library: docs/business-time.md says which
libraries were tried and why none fits (wall-clock hours across DST, crashes past the last
holiday). Every instant here is a naive UTC datetime, the form the database stores; the
calendar's windows are built per local day with `datetime.combine(day, t, tz)` and turned
into UTC, so a window that spans a DST change counts the real hours in it.

`None` for a calendar means 24x7: plain UTC arithmetic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "Calendar",
    "add_business",
    "between_business",
    "parse_hours",
    "parse_timezone",
]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_DAYS = 3 * 366  # a calendar with hardly any hours must not walk forever
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

Window = tuple[time, time | None]  # None as the end: midnight at the end of the day


@dataclass(frozen=True)
class Calendar:
    name: str
    timezone: ZoneInfo
    hours: tuple[tuple[Window, ...], ...]  # seven entries, Monday first, local wall times
    holidays: frozenset[date] = frozenset()

    def windows(self, day: date) -> list[tuple[datetime, datetime]]:
        """The business windows of one local day, as naive UTC intervals."""
        if day in self.holidays:
            return []
        out = []
        for start, end in self.hours[day.weekday()]:
            begin = _utc(datetime.combine(day, start, self.timezone))
            if end is None:
                finish = _utc(datetime.combine(day + timedelta(days=1), time(0), self.timezone))
            else:
                finish = _utc(datetime.combine(day, end, self.timezone))
            if finish > begin:
                out.append((begin, finish))
        return out

    def _days_from(self, instant: datetime) -> Iterator[date]:
        local = instant.replace(tzinfo=UTC).astimezone(self.timezone).date()
        day = local - timedelta(days=1)  # a window of yesterday may still be open
        for _ in range(MAX_DAYS):
            yield day
            day += timedelta(days=1)

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant `seconds` of business time after `start` (naive UTC)."""
        if seconds <= 0:
            return start
        left = timedelta(seconds=seconds)
        for day in self._days_from(start):
            for begin, finish in self.windows(day):
                if finish <= start:
                    continue
                begin = max(begin, start)
                if finish - begin >= left:
                    return begin + left
                left -= finish - begin
        raise ValueError(f"calendar {self.name}: no business hours within {MAX_DAYS} days")

    def between(self, a: datetime, b: datetime) -> float:
        """Business seconds from `a` to `b` (negative when `b` is earlier)."""
        if b < a:
            return -self.between(b, a)
        total = timedelta(0)
        for day in self._days_from(a):
            if _utc(datetime.combine(day, time(0), self.timezone)) >= b:
                break
            for begin, finish in self.windows(day):
                lo, hi = max(begin, a), min(finish, b)
                if hi > lo:
                    total += hi - lo
        return total.total_seconds()


def add_business(calendar: Calendar | None, start: datetime, seconds: float) -> datetime:
    if calendar is None:
        return start + timedelta(seconds=max(seconds, 0))
    return calendar.add(start, seconds)


def between_business(calendar: Calendar | None, a: datetime, b: datetime) -> float:
    if calendar is None:
        return (b - a).total_seconds()
    return calendar.between(a, b)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def parse_timezone(name: str) -> ZoneInfo:
    """A tz database name; ValueError with the reason otherwise."""
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (e.g. Europe/Madrid, UTC)") from exc


def parse_hours(spec: Mapping[str, object]) -> tuple[tuple[Window, ...], ...]:
    """`{mon-fri: "09:00-17:00", sat: "10:00-13:00, 14:00-16:00"}` into seven lists of
    windows; a window across midnight (`22:00-06:00`) becomes two, one on each day."""
    days: list[list[Window]] = [[] for _ in DAYS]
    for key, value in spec.items():
        targets = _day_names(str(key))
        texts = value if isinstance(value, list) else str(value).split(",")
        for text in texts:
            m = _WINDOW.match(str(text))
            if not m:
                raise ValueError(f"{key}: {str(text).strip()!r} is not a window like "
                                 "09:00-17:00")
            h1, m1, h2, m2 = (int(g) for g in m.groups())
            if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
                raise ValueError(f"{key}: {str(text).strip()!r} is not a time of day")
            start = time(h1, m1)
            end = None if h2 == 24 or (h2, m2) == (0, 0) else time(h2, m2)
            for d in targets:
                if end is None or end > start:
                    days[d].append((start, end))
                elif end == start:
                    raise ValueError(f"{key}: {str(text).strip()!r} is empty")
                else:  # across midnight
                    days[d].append((start, None))
                    days[(d + 1) % 7].append((time(0), end))
    if not any(days):
        raise ValueError("no business hours at all")
    return tuple(_merged(w) for w in days)


def _merged(windows: list[Window]) -> tuple[Window, ...]:
    """Sorted, overlapping windows joined: a moment is never counted twice."""
    out: list[Window] = []
    for start, end in sorted(windows, key=lambda w: w[0]):
        if out and (out[-1][1] is None or start <= out[-1][1]):
            last_start, last_end = out[-1]
            joined = None if last_end is None or end is None else max(last_end, end)
            out[-1] = (last_start, joined)
        else:
            out.append((start, end))
    return tuple(out)


def _day_names(key: str) -> list[int]:
    out: list[int] = []
    for part in key.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"{key!r}: days are mon tue wed thu fri sat sun, as mon-fri or "
                             "sat,sun")
        a, b = DAYS.index(first), DAYS.index(last or first)
        span = range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)]
        out.extend(span)
    return out
