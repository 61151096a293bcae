"""find_ticket's `_survivor` takes the ticket its look-up just loaded instead of asking
`session.get` for it (issue 20) only when `get` would answer that very object: held by
the session's identity map and not expired. Otherwise it asks `get`, as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from maildesk.core.threads import _current, _survivor
from maildesk.store.models import Ticket
from tests.conftest import Desk, make_desk, simple_mail


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return make_desk(tmp_path / "desk")


def test_the_loaded_ticket_is_what_session_get_answers(desk: Desk) -> None:
    first = desk.ingest(simple_mail(subject="one", message_id="<s-1@example.org>"))
    second = desk.ingest(simple_mail(subject="two", message_id="<s-2@example.org>"))
    assert first.ticket and second.ticket
    app = desk.app()
    try:
        with app.db.transaction() as session:
            one = session.execute(select(Ticket).where(Ticket.number == first.ticket)).scalar_one()
            assert _current(session, one) and session.get(Ticket, one.id) is one
            assert _survivor(session, one.id, one) is one
            session.expire(one)  # get refreshes it: _current says no, _survivor asks get
            assert not _current(session, one)
            assert _survivor(session, one.id, one) is one and _current(session, one)  # got
            two = session.execute(select(Ticket).where(Ticket.number == second.ticket)).scalar_one()
            one.merged_into_id = two.id  # a merged ticket hands on to its survivor
            assert _survivor(session, one.id, one) is two
            session.expunge(two)  # not the session's any more: get loads another object
            assert not _current(session, two)
            again = _survivor(session, two.id, two)
            assert again is not None and again is not two and again.id == two.id
            with app.db.reading() as other:  # another session's object
                mine = other.get(Ticket, one.id)
                assert mine is not None and not _current(session, mine)
    finally:
        app.close()
