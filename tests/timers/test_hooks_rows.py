"""The commit's due rows (issue 20): fixed-length IN lists instead of an expanding one, and
for a config that arms no rows by itself a Core probe of which tickets have any before the
ORM's SELECT; both give what `due.load_rows` gives, for any number of tickets."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import event

from maildesk.store.models import Ticket, Timer
from maildesk.timers import hooks
from maildesk.timers.due import load_rows
from tests.agents.conftest import new_ticket, notification, reply, send
from tests.conftest import Desk, simple_mail


def _ids(rows: dict[int, dict[str, Timer]]) -> dict[int, dict[str, int]]:
    return {t: {kind: row.id for kind, row in kinds.items()} for t, kinds in rows.items()}


@pytest.mark.backends("sqlite", "postgresql", "mariadb")
def test_rows_of_is_load_rows_probed_or_not(adesk: Desk) -> None:
    numbers = [new_ticket(adesk, subject=f"t{n}", sender=f"c{n}@example.org")
               for n in range(4)]
    app = adesk.app()
    try:
        with app.db.transaction() as session:
            assert len(numbers) == 4 and session.query(Timer).count() == 0
            one, two, three, four = sorted(t.id for t in session.query(Ticket))
            for ticket_id in (one, three):  # rows of two tickets; the others have none
                for kind in ("reminder", "lock"):
                    session.add(Timer(ticket_id=ticket_id, kind=kind, queue="support"))
            session.flush()
            cases = [[one], [two], [two, four], [one, two, three],
                     [four, three, two, one, two], [two, four, four + 9999],
                     list(range(one, one + 8)), list(range(one, one + 700))]
            for ids in cases:
                want = _ids(load_rows(session, ids))
                assert _ids(hooks._rows_of(session, ids, probe=True)) == want, ids
                assert _ids(hooks._rows_of(session, ids, probe=False)) == want, ids
            # a statement-level listener sends the probe the usual way (a CursorResult,
            # not store.lean's list): the same rows
            seen: list[object] = []

            def listener(_conn: object, statement: object, *_rest: object) -> None:
                seen.append(statement)

            event.listen(app.db.engine, "before_execute", listener)
            try:
                for ids in cases[:4]:
                    usual = _ids(load_rows(session, ids))
                    assert _ids(hooks._rows_of(session, ids, probe=True)) == usual, ids
                assert seen
            finally:
                event.remove(app.db.engine, "before_execute", listener)
            assert set(want[one]) == set(want[three]) == {"reminder", "lock"}
            assert want[two] == want[four] == {}
            session.rollback()
    finally:
        app.close()


def test_timed_follows_the_config(adesk: Desk) -> None:
    app = adesk.app()
    try:
        config = app.config
        assert hooks._timed(config) is False  # the agents' desk: no SLA, level, lock timeout
        locking = replace(config, instance=replace(config.instance, lock_timeout=600.0))
        assert hooks._timed(locking) is True
        assert hooks._timed(config) is False  # each config its own answer
        queue = replace(config.queues[0], escalate_to=config.queues[0].name,
                        escalate_after=3600.0)
        assert hooks._timed(replace(config, queues=(queue, *config.queues[1:]))) is True
    finally:
        app.close()


@pytest.mark.backends("sqlite", "postgresql", "mariadb")
def test_a_follow_up_drops_the_pending_row_of_an_untimed_config(adesk: Desk) -> None:
    """The probed path at a mail's commit: the reminder of the ticket the mail reopens
    goes, the other ticket's stays."""
    numbers = [new_ticket(adesk, subject=f"p{n}", sender=f"p{n}@example.org")
               for n in range(2)]
    for number in numbers:
        note = notification(adesk, number)
        send(adesk, reply(note, "/pending reminder +2h\n"), note)
    app = adesk.app()
    try:
        assert hooks._timed(app.config) is False
    finally:
        app.close()
    follow = simple_mail(subject=f"Re: [Ticket#{numbers[0]}] p0", sender="p0@example.org",
                         body="Any news?\n")
    assert adesk.ingest(follow, sender="p0@example.org").ticket == numbers[0]
    assert adesk.show(numbers[0])["state"] == "open"
    assert adesk.show(numbers[1])["state"] == "pending reminder"
    app = adesk.app()
    try:
        with app.db.reading() as session:
            rows = [(r.ticket_id, r.kind) for r in session.query(Timer)]
        assert len(rows) == 1 and rows[0][1] == "reminder"
    finally:
        app.close()
