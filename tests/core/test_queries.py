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
