"""The core's read queries that entrances use instead of the ticket tables: counts for
/metrics, the history cursor, the Message-ID index a mailbox poll asks, and the gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from maildesk.core import queries
from tests.conftest import Desk, make_desk, simple_mail


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return make_desk(tmp_path / "desk")


def test_counts_cursor_and_message_ids(desk: Desk) -> None:
    first = desk.ingest(simple_mail(subject="one", message_id="<q-1@example.org>"))
    desk.ingest(simple_mail(subject="two", message_id="<q-2@example.org>"))
    assert first.ticket
    app = desk.app()
    try:
        with app.db.reading() as session:
            counts = queries.ticket_counts(session)
            last = queries.last_history_id(session)
            created = queries.events_between(session, None, last, ["created"])
            later = queries.events_between(session, last, last, ["created"])
        assert sum(n for _, _, n in counts) == 2 and all(s == "new" for _, s, _ in counts)
        assert last > 0 and (created, later) == (2, 0)
        assert queries.known_message_ids(app.db, ["q-1@example.org", "nope@example.org",
                                                  ""]) == {"q-1@example.org"}
    finally:
        app.close()


def test_metrics_counts_are_the_kept_counts_not_a_count_of_the_tickets(desk: Desk) -> None:
    """/metrics refreshes every 15 s beside the requests: it reads the counts kept with
    every change (store.rollup), never the tickets table (a scan of a million rows, the
    API's slowest requests at 1,000,000 tickets)."""
    from sqlalchemy import event

    from maildesk.store import rollup

    desk.ingest(simple_mail(subject="one"))
    app = desk.app()
    try:
        statements: list[str] = []
        with app.db.reading() as session:
            kept = rollup.counts(session, ["Support"])
            listen = session.connection()
            event.listen(listen, "before_cursor_execute",
                         lambda *args: statements.append(args[2]))
            counts = queries.ticket_counts(session)
    finally:
        app.close()
    assert counts == [("Support", "new", 1)] and kept == {("Support", "new"): 1}
    assert statements and not any("FROM tickets" in s for s in statements), statements


def test_the_gate_sees_the_queue_before_anything_is_read(desk: Desk) -> None:
    number = str(desk.ingest(simple_mail()).ticket)
    seen: list[tuple[str, str | None]] = []

    def refuse(n: str, queue: str | None) -> None:
        seen.append((n, queue))
        raise PermissionError(n)

    app = desk.app()
    try:
        with pytest.raises(PermissionError):
            queries.read_ticket(app.db, number, refuse)
        assert queries.read_ticket(app.db, "999999", lambda n, q: seen.append((n, q))) is None
        found = queries.read_ticket(app.db, number, lambda n, q: None)
    finally:
        app.close()
    assert seen[0][0] == number and seen[0][1] and seen[1] == ("999999", None)
    assert found is not None and found[0]["number"] == number and found[1].startswith('"')


def test_a_list_page_is_each_tickets_summary_without_orm_objects(desk: Desk) -> None:
    """`ticket_page` reads columns, not ORM tickets: each row is views.ticket_summary of
    the ticket, every field set (cc, tags, owner, times)."""
    from datetime import datetime

    from sqlalchemy import select

    from maildesk.store.models import Ticket
    from maildesk.views import ticket_summary

    first = str(desk.ingest(simple_mail(subject="one")).ticket)
    desk.ingest(simple_mail(subject="two", message_id="<q-two@example.org>"))
    app = desk.app()
    try:
        with app.db.transaction() as session:
            ticket = session.execute(select(Ticket).where(Ticket.number == first)).scalar_one()
            ticket.cc, ticket.tags = ["b@example.org", "a@example.org"], ["vip", "x"]
            ticket.owner, ticket.locked, ticket.language = "alice@example.com", True, "de"
            ticket.first_response_at = datetime(2026, 1, 2, 3, 4, 5, 678)
            ticket.closed_at = ticket.pending_until = datetime(2026, 2, 3, 4, 5, 6)
        with app.db.reading() as session:
            expected = [ticket_summary(t) for t in
                        session.execute(select(Ticket).order_by(Ticket.id)).scalars()]
        page, cursor = queries.ticket_page(app.db, after=0, limit=1, queues=None)
        rest, end = queries.ticket_page(app.db, after=int(cursor or 0), limit=5,
                                        queues=["Support"])
    finally:
        app.close()
    assert page + rest == expected and end is None
    assert page[0]["tags"] == ["vip", "x"] and page[0]["locked"] is True
