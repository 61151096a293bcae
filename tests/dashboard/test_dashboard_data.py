"""The dashboard's numbers from a database with known tickets, on every backend (the hour
buckets are SQL that differs per backend)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import insert

from maildesk.core.dashboard import Backlog, collect
from maildesk.store import rollup
from maildesk.store.models import Ticket, Timer
from tests.conftest import Desk

NOW = datetime(2026, 11, 30, 12, 0)  # Monday; Madrid is UTC+1
SLA = {
    "    display_name: Example Support\n":
        "    display_name: Example Support\n    sla: {first_response: 4h}\n",
    "    display_name: Example Billing\n":
        "    display_name: Example Billing\n"
        "    sla: {first_response: 8h, calendar: office}\n",
}
CALENDAR = """
calendars:
  office: {timezone: Europe/Madrid, hours: {mon-fri: "09:00-17:00"}}
"""


def _desk(desk: Desk) -> Desk:
    text = desk.config_path.read_text()
    for old, new in SLA.items():
        assert old in text
        text = text.replace(old, new, 1)
    desk.config_path.write_text(text + CALENDAR)
    return desk


def _ticket(n: int, queue: str, state: str, created: datetime, *,
            answered: datetime | None = None, closed: datetime | None = None) -> dict:
    return {"id": n, "number": f"20261130100{n:05d}", "title": f"t{n}", "queue": queue,
            "state": state, "customer": "carol@example.org", "created_at": created,
            "updated_at": created, "first_response_at": answered, "closed_at": closed,
            "version": 1}


def _load(desk: Desk) -> None:
    h = timedelta(hours=1)
    tickets = [
        # opened 23:30 UTC on the 29th: 00:30 on the 30th in Madrid
        _ticket(1, "Support", "new", datetime(2026, 11, 29, 23, 30)),
        _ticket(2, "Support", "open", NOW - 30 * h, answered=NOW - 29 * h),  # 1 h
        _ticket(3, "Support", "pending reminder", NOW - 30 * h, answered=NOW - 28 * h),  # 2 h
        _ticket(4, "Support", "closed successful", NOW - 50 * h, answered=NOW - 44 * h,
                closed=NOW - 2 * h),  # 6 h: past the 4 h SLA
        _ticket(5, "Support", "merged", NOW - 50 * h, closed=NOW - 40 * h),
        # Friday 16:00 Madrid, answered Monday 10:00 Madrid: 2 business hours
        _ticket(6, "Billing", "open", datetime(2026, 11, 27, 15, 0),
                answered=datetime(2026, 11, 30, 9, 0)),
        _ticket(7, "Billing", "closed unsuccessful", NOW - 3 * h, closed=NOW - h),
        _ticket(8, "Sales", "new", NOW - h),  # not asked for
        _ticket(9, "Support", "closed successful", NOW - 60 * 24 * h,
                closed=NOW - 59 * 24 * h),  # before the period
    ]
    app = desk.app()
    try:
        with app.db.transaction() as s:
            s.execute(insert(Ticket), tickets)
            s.execute(insert(Timer), [
                {"ticket_id": 1, "kind": "first_response", "queue": "Support",
                 "deadline": NOW - h, "stage": 2},
                {"ticket_id": 6, "kind": "first_response", "queue": "Billing",
                 "deadline": None, "remaining": -5.0, "stage": 2},
                {"ticket_id": 3, "kind": "first_response", "queue": "Support",
                 "deadline": NOW + h, "stage": 0},
                {"ticket_id": 8, "kind": "first_response", "queue": "Sales",
                 "deadline": NOW - h, "stage": 2},
            ])
            rollup.rebuild(s)  # Core INSERTs bypass the ORM that keeps the counts
    finally:
        app.close()


@pytest.mark.backends()
def test_dashboard_numbers(desk: Desk) -> None:
    _load(_desk(desk))
    app = desk.app()
    try:
        with app.db.reading() as s:
            d = collect(s, app.config, ["Support", "Billing"], NOW, "Europe/Madrid", days=7)
    finally:
        app.close()
    assert d.days == [date(2026, 11, 24) + timedelta(days=n) for n in range(7)]
    by_day = dict(zip(d.days, d.opened, strict=True))
    assert by_day[date(2026, 11, 30)] == 2  # ticket 1 (local day) and 7
    assert by_day[date(2026, 11, 29)] == 2  # 2 and 3 (Sunday 07:00 Madrid)
    assert by_day[date(2026, 11, 28)] == 2  # 4 and 5
    assert by_day[date(2026, 11, 27)] == 1  # 6
    assert sum(d.opened) == 7
    closed = dict(zip(d.days, d.closed, strict=True))
    assert closed[date(2026, 11, 30)] == 2 and closed[date(2026, 11, 28)] == 1
    assert sum(d.closed) == 3  # ticket 9 closed before the period

    assert d.backlog == [Backlog("Support", {"new": 1, "open": 1, "pending": 1}),
                         Backlog("Billing", {"open": 1})]
    support, billing = d.responses
    assert (support.queue, support.answered, support.within) == ("Support", 3, 2)
    assert (support.median, support.p90, support.target) == (7200.0, 21600.0, 14400.0)
    assert support.overdue_now == 1
    assert support.within_share == pytest.approx(2 / 3)
    assert (billing.answered, billing.median, billing.target) == (1, 7200.0, 28800.0)
    assert billing.within == 1 and billing.overdue_now == 1
    assert not d.sampled


def test_no_queues_no_queries(desk: Desk) -> None:
    app = desk.app()
    try:
        with app.db.reading() as s:
            d = collect(s, app.config, [], NOW, "Nowhere/Invalid", days=3)
    finally:
        app.close()
    assert d.opened == [0, 0, 0] and d.backlog == [] and d.responses == []
    assert d.days[-1] == date(2026, 11, 30)  # an unknown zone counts in UTC
