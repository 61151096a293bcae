"""Business-time arithmetic (maildesk.timers.calendar): the cases of the research note,
DST on both sides of the Atlantic and in the south, holidays, windows across midnight, and
the round trip `between(a, add(a, d)) == d` over many starts."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from maildesk.timers.calendar import (
    Calendar,
    add_business,
    between_business,
    parse_hours,
    parse_timezone,
)

H = 3600.0


def cal(zone: str = "Europe/Madrid", hours: dict | None = None,
        holidays: tuple[date, ...] = ()) -> Calendar:
    return Calendar("t", parse_timezone(zone), parse_hours(hours or {"mon-fri": "09:00-17:00"}),
                    frozenset(holidays))


@pytest.mark.parametrize("start, hours, expected", [
    # Fri 27 Mar 16:00 CET + 4h; clocks go forward on Sunday: Mon 12:00 CEST
    (datetime(2026, 3, 27, 15), 4, datetime(2026, 3, 30, 10)),
    # Fri 23 Oct 16:00 CEST + 2h; clocks go back on Sunday: Mon 10:00 CET
    (datetime(2026, 10, 23, 14), 2, datetime(2026, 10, 26, 9)),
    # Saturday 10:00 + 1h: Monday 10:00 CEST
    (datetime(2026, 3, 28, 9), 1, datetime(2026, 3, 30, 8)),
    # exactly at the end of a window: the next window's start is not "after" it
    (datetime(2026, 3, 27, 15), 1, datetime(2026, 3, 27, 16)),
])
def test_add_across_weekends_and_dst(start: datetime, hours: int, expected: datetime) -> None:
    assert cal().add(start, hours * H) == expected


def test_holiday_and_weekend_are_skipped() -> None:
    c = cal(holidays=(date(2026, 12, 25),))
    # Thu 24 Dec 16:00 CET + 2h: 1h on Thursday, Fri is a holiday, then Mon 09:00-10:00
    assert c.add(datetime(2026, 12, 24, 15), 2 * H) == datetime(2026, 12, 28, 9)
    # 24 Dec 09:00 -> 28 Dec 17:00 local: Thursday and Monday, 16 business hours
    assert c.between(datetime(2026, 12, 24, 8), datetime(2026, 12, 28, 16)) == 16 * H


def test_a_window_over_the_spring_gap_has_only_its_real_hours() -> None:
    c = cal(hours={"sun": "01:00-05:00"})  # 29 Mar 2026: 02:00 -> 03:00 in Madrid
    start = datetime(2026, 3, 29, 0)  # 01:00 CET
    assert c.between(start, datetime(2026, 3, 29, 3)) == 3 * H  # until 05:00 CEST
    assert c.add(start, 3 * H) == datetime(2026, 3, 29, 3)
    # the fourth hour: next Sunday 01:00-02:00 CEST, i.e. 23:00-00:00 UTC
    assert c.add(start, 4 * H) == datetime(2026, 4, 5, 0)


@pytest.mark.parametrize("zone, spring, autumn", [
    ("America/New_York", date(2026, 3, 8), date(2026, 11, 1)),
    ("Australia/Sydney", date(2026, 10, 4), date(2026, 4, 5)),
    ("Europe/Madrid", date(2026, 3, 29), date(2026, 10, 25)),
])
def test_a_business_day_is_eight_real_hours_on_both_sides_of_dst(
        zone: str, spring: date, autumn: date) -> None:
    c = cal(zone, hours={"mon-sun": "09:00-17:00"})
    for day in (spring, autumn):
        for offset in (-1, 0, 1):
            d = day + timedelta(days=offset)
            windows = c.windows(d)
            assert len(windows) == 1
            assert windows[0][1] - windows[0][0] == timedelta(hours=8), (zone, d)
        start = c.windows(day - timedelta(days=1))[0][0]
        # 8 business hours from the start of the day before: the start of the change day
        assert c.add(start, 8 * H) == c.windows(day - timedelta(days=1))[0][1]
        assert c.add(start, 8 * H + 1) == c.windows(day)[0][0] + timedelta(seconds=1)


def test_round_trip_over_many_starts() -> None:
    c = cal("America/New_York", hours={"mon-fri": "08:00-12:00, 13:00-18:00",
                                        "sat": "22:00-02:00"},
            holidays=(date(2026, 11, 26),))
    start = datetime(2026, 10, 28, 3, 17)
    for i in range(400):
        a = start + timedelta(minutes=97 * i)
        for seconds in (1.0, 59 * 60.0, 9 * H, 3 * 24 * H):
            b = c.add(a, seconds)
            assert b > a
            assert c.between(a, b) == pytest.approx(seconds)
            assert c.add(a, seconds + 60) >= b  # monotonic


def test_window_across_midnight_is_split_and_24x7_is_plain_arithmetic() -> None:
    hours = parse_hours({"fri": "22:00-06:00"})
    assert [len(d) for d in hours] == [0, 0, 0, 0, 1, 1, 0]
    assert add_business(None, datetime(2026, 3, 29, 0), 4 * H) == datetime(2026, 3, 29, 4)
    assert between_business(None, datetime(2026, 1, 1), datetime(2026, 1, 2)) == 24 * H


@pytest.mark.parametrize("spec, message", [
    ({"mon-fri": "9-17"}, "not a window"),
    ({"monday": "09:00-17:00"}, "days are"),
    ({"mon": "25:00-26:00"}, "not a time of day"),
    ({"mon": "09:00-09:00"}, "empty"),
    ({}, "no business hours"),
])
def test_bad_hours_are_refused(spec: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_hours(spec)


def test_unknown_time_zone() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_timezone("Mars/Olympus")
