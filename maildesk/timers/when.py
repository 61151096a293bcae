"""When a `/pending` command means: `+2d` from now, or a date and time in the queue's
calendar's time zone (else the instance's)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from maildesk.config import parse_duration

__all__ = ["parse_when"]

_LOCAL = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ T](\d{1,2}:\d{2}(?::\d{2})?))?$")


def parse_when(text: str, zone: ZoneInfo, now: datetime) -> datetime:
    """Naive UTC for `+90m`, `+2d`, `2026-12-01`, `2026-12-01 10:00` or an ISO 8601 time
    with an offset; ValueError with a reason the agent can act on. A bare date is the start
    of that day in `zone`; `now` is naive UTC."""
    text = " ".join(text.split())
    if text.startswith("+"):
        try:
            seconds = parse_duration(text[1:])
        except ValueError:
            raise ValueError(f"not a duration: {text!r} (write e.g. +30m, +4h, +2d)") from None
        if seconds <= 0:
            raise ValueError(f"{text!r} is not in the future")
        return now + timedelta(seconds=seconds)
    m = _LOCAL.match(text)
    try:
        if m:
            day = date.fromisoformat(m.group(1))
            clock = time.fromisoformat(m.group(2).zfill(5)) if m.group(2) else time(0)
            local = datetime.combine(day, clock, zone)
        else:
            local = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if local.tzinfo is None:
                local = local.replace(tzinfo=zone)
    except ValueError:
        raise ValueError(f"not a date: {text!r} (write YYYY-MM-DD [HH:MM] or +2d)") from None
    when = local.astimezone(UTC).replace(tzinfo=None)
    if when <= now:
        raise ValueError(f"{text} is not in the future")
    return when
