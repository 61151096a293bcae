"""Due reminders and auto-closes worked off in bulk (maildesk/timers/bulk.py) leave what the
row-by-row path leaves (`actions.fire`, still the path of the other kinds and here the
reference): the same states, history, mails, Message-ID index, due rows and ticket
counts, over several batches, on every backend. And a ticket whose customer wrote between
the batch's read and its UPDATE (another writer on PostgreSQL or MariaDB) ends as the
customer left it: the batch runs again, the others fire once."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from typing import Any

import pytest
import time_machine
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from maildesk.outbound.deferred import message_bytes
from maildesk.runtime import RUNTIME_KEY
from maildesk.store.db import Database
from maildesk.store.models import (
    Article,
    History,
    MessageIdRow,
    OutboxMail,
    Ticket,
    Timer,
    utcnow,
)
from maildesk.store.rollup import counts, drift
from maildesk.timers.actions import fire
from maildesk.timers.run import run_until_idle
from tests.agents.conftest import agent_desk, new_ticket, notification, reply, send
from tests.conftest import Desk, desks_of, simple_mail

SUPPORT = """\
    sla: {first_response: 4h, update: 8h, solution: 2d, warn_before: 30m}
    escalate_to: Sales
    escalate_after: 2h
"""
BACKENDS = pytest.mark.backends("sqlite", "postgresql", "mariadb")


@pytest.fixture
def desks(request: pytest.FixtureRequest, tmp_path: Any, backend: str) -> Callable[[], Desk]:
    """Desks whose Support queue has an SLA and a level and whose locks time out after 3 h,
    all with one secret: the same commands give the same reply tokens on each."""
    factory = desks_of(agent_desk, request, tmp_path / "desks", backend)
    made: list[Desk] = []

    def make() -> Desk:
        desk = factory()
        body = desk.config_path.read_text()
        body = body.replace("    on_closed_followup: reopen\n",
                            "    on_closed_followup: reopen\n" + SUPPORT, 1)
        body = body.replace("  system_id: 10\n", "  system_id: 10\n  lock_timeout: 3h\n", 1)
        desk.config_path.write_text(body)
        if made:
            secret = made[0].config.instance.secret_file
            desk.config.instance.secret_file.write_bytes(secret.read_bytes())
        made.append(desk)
        return desk

    return make


@contextmanager
def at(when: datetime) -> Iterator[None]:
    with time_machine.travel(when.replace(tzinfo=UTC), tick=False):
        yield


def _scene(desk: Desk, t0: datetime) -> dict[str, str]:
    """Pending tickets in each way the bulk path tells apart, set up at t0 by real mails."""
    plan = {
        "sla reminder": ("support@example.com", "/pending reminder +1h\n"),
        "sla auto-close": ("support@example.com", "/pending auto-close +1h\n"),
        "locked reminder": ("sales@example.com", "/lock\n/pending reminder +1h\n"),
        "plain reminder": ("sales@example.com", "/pending reminder +1h\n"),
        "plain auto-close": ("sales@example.com", "/pending auto-close +1h\n"),
        "customer wrote": ("sales@example.com", "/pending auto-close +1h\n"),
        "lock due too": ("sales@example.com", "/lock\n/pending reminder +4h\n"),
        "late reminder": ("sales@example.com", "/pending reminder +4h\n"),
    }
    numbers: dict[str, str] = {}
    with at(t0):
        for n, (name, (to, commands)) in enumerate(plan.items()):
            number = new_ticket(desk, subject=f"case {n}", to=to, sender=f"c{n}@example.org")
            note = notification(desk, number)
            send(desk, reply(note, commands), note)
            numbers[name] = number
        wrote = numbers["customer wrote"]
        follow = simple_mail(subject=f"Re: [Ticket#{wrote}] case 5", sender="c5@example.org",
                             body="It works again.\n")
        assert desk.ingest(follow, sender="c5@example.org",
                           recipients=("sales@example.com",)).ticket == wrote
    return numbers


def _run(desk: Desk, when: datetime, bulk: bool, limit: int = 2) -> dict[str, int]:
    """Everything due at `when` in batches of `limit`: the bulk path, or row by row."""
    app = desk.app()
    try:
        with at(when):
            if bulk:
                return dict(run_until_idle(app, limit=limit))
            done: Counter[str] = Counter()
            while True:
                batch = app.db.run(lambda s: _row_by_row(s, app.runtime, when, limit))
                done.update(batch)
                if sum(batch.values()) < limit:
                    return dict(done)
    finally:
        app.close()


def _row_by_row(session: Session, rt: Any, now: datetime, limit: int) -> Counter[str]:
    """The batch as run.py ran it before the bulk path: ORM rows, `fire` one by one."""
    session.info[RUNTIME_KEY] = rt
    rows = list(session.scalars(select(Timer).where(Timer.due_at <= now)
                                .order_by(Timer.due_at, Timer.id).limit(limit)))
    tickets = {t.id: t for t in session.scalars(
        select(Ticket).where(Ticket.id.in_({r.ticket_id for r in rows})))}
    done: Counter[str] = Counter()
    with session.no_autoflush:
        for row in rows:
            done[fire(session, rt, row, tickets.get(row.ticket_id), now)] += 1
    return done


_TOKEN = re.compile(r"\+t[0-9a-z]+@")  # a reply token in an address


def _picture(desk: Desk) -> dict[str, Any]:
    """Everything the timers write, with what is random per mail (Message-IDs, the Date
    the sender renders) left out and outbox ids replaced by what the row is."""
    app = desk.app()
    try:
        with app.db.transaction() as s:
            number = {i: n for i, n in s.execute(select(Ticket.id, Ticket.number))}
            mails = s.scalars(select(OutboxMail).order_by(OutboxMail.id)).all()
            what = {m.id: (number.get(m.ticket_id), m.kind, m.to_addr, m.subject, m.state)
                    for m in mails}
            bodies: dict[str | None, list[tuple[object, ...]]] = {}  # per ticket, in order
            for m in mails:
                raw = message_bytes(s, app.config, m.raw, m.spec_json, m.message_id)
                msg = message_from_bytes(raw, policy=default)
                bodies.setdefault(number.get(m.ticket_id), []).append(
                    (*what[m.id], _TOKEN.sub("+TOKEN@", m.mail_from),
                     _TOKEN.sub("+TOKEN@", msg.get_content()),
                     *(_TOKEN.sub("+TOKEN@", str(msg[h])) for h in (
                         "From", "To", "Subject", "Reply-To", "Auto-Submitted"))))
            # Ids differ between two desks on a reused server database (its sequences go
            # on): articles by their rank, reply tokens (they sign the ticket id) left out.
            rank = {a: n for n, a in enumerate(s.scalars(select(Article.id).order_by(Article.id)))}
            history: dict[str, list[tuple[object, ...]]] = {}
            for h in s.scalars(select(History).order_by(History.id)):
                details = json.loads(h.details_json)
                details.pop("message_id", None)
                if isinstance(details.get("article"), int):
                    details["article"] = rank.get(details["article"])
                if "outbox" in details:
                    details["outbox"] = what.get(details["outbox"])
                history.setdefault(number[h.ticket_id], []).append(
                    (h.event, h.actor, h.at, details))
            index = Counter((number[r.ticket_id], r.direction, what.get(r.outbox_id or 0))
                            for r in s.scalars(select(MessageIdRow)))
            tickets = sorted((t.number, t.state, t.queue, t.owner, t.locked, t.pending_until,
                              t.closed_at, t.updated_at, t.version)
                             for t in s.scalars(select(Ticket)))
            timers = sorted((number[t.ticket_id], t.kind, t.queue, t.due_at, t.deadline,
                             t.remaining, t.stage) for t in s.scalars(select(Timer)))
            assert drift(s) == {}
            rollup = counts(s, [q.name for q in app.config.queues])
        return {"tickets": tickets, "history": history, "mails": bodies, "index": index,
                "timers": timers, "counts": rollup}
    finally:
        app.close()


@BACKENDS
def test_bulk_leaves_what_row_by_row_leaves(desks: Callable[[], Desk]) -> None:
    bulk, reference = desks(), desks()
    t0 = utcnow().replace(microsecond=0) + timedelta(minutes=1)
    numbers = _scene(bulk, t0)
    assert _scene(reference, t0) == numbers
    assert _picture(bulk) == _picture(reference)  # the same start

    soon = t0 + timedelta(hours=1, seconds=1)
    done = _run(bulk, soon, bulk=True)
    assert done == _run(reference, soon, bulk=False)
    assert done == {"reminder": 3, "auto-close": 2}
    after = _picture(bulk)
    assert after == _picture(reference)
    state = {n: s for n, s, *_ in after["tickets"]}
    assert state[numbers["sla reminder"]] == state[numbers["plain reminder"]] == "open"
    assert state[numbers["plain auto-close"]] == "closed successful"
    assert state[numbers["customer wrote"]] == "open"
    assert state[numbers["lock due too"]] == "pending reminder"
    # the reminder went to the owner of the locked ticket, else to the queue
    sent = [(m[0], m[2]) for mails in after["mails"].values() for m in mails
            if m[3].endswith("Reminder: case 2")]
    assert sent == [(numbers["locked reminder"], "alice@example.com")]
    # the SLA ticket's clocks run on and its level is armed again; a closed one has none
    kinds = Counter(n for n, *_ in after["timers"])
    assert kinds[numbers["sla reminder"]] == 3 and kinds[numbers["sla auto-close"]] == 0

    # the lock (3 h) and the reminder (4 h) of one ticket in one batch go row by row,
    # beside the batch's other reminder in bulk
    later = t0 + timedelta(hours=4, seconds=1)
    done = _run(bulk, later, bulk=True, limit=50)
    assert done == _run(reference, later, bulk=False, limit=50)
    assert done["unlock"] == 2 and done["reminder"] == 2
    assert _picture(bulk) == _picture(reference)


@pytest.mark.backends("postgresql", "mariadb")
def test_a_customer_who_writes_while_the_batch_runs_ends_pending(
        desks: Callable[[], Desk]) -> None:
    desk = desks()
    t0 = utcnow().replace(microsecond=0) + timedelta(minutes=1)
    numbers = []
    with at(t0):
        for n in range(3):
            number = new_ticket(desk, to="sales@example.com", sender=f"c{n}@example.org")
            note = notification(desk, number)
            send(desk, reply(note, "/pending reminder +1h\n"), note)
            numbers.append(number)
    before = _history_of(desk)
    app = desk.app()
    other = Database(desk.config.database)
    updates: list[str] = []

    def customer_writes(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith("UPDATE TICKETS"):
            return
        updates.append(statement)
        if len(updates) == 1:  # another writer commits between the batch's read and UPDATE
            with other.engine.begin() as conn:
                conn.execute(text("UPDATE tickets SET state = 'open', pending_until = NULL, "
                                  "version = version + 1 WHERE number = :n"),
                             {"n": numbers[1]})

    event.listen(app.db.engine, "before_cursor_execute", customer_writes)
    try:
        with at(t0 + timedelta(hours=1, seconds=1)):
            done = dict(run_until_idle(app))
    finally:
        event.remove(app.db.engine, "before_cursor_execute", customer_writes)
        app.close()
        other.dispose()
    assert done == {"reminder": 2, "stale": 1}
    assert len(updates) >= 2  # the batch lost the race once and ran again
    after = _history_of(desk)
    assert after[numbers[1]] == before[numbers[1]]  # nothing fired on it
    for number in (numbers[0], numbers[2]):
        assert after[number] == [*before[number], "state", "reminder", "notification sent"]
    assert desk.show(numbers[1])["state"] == "open"


def _history_of(desk: Desk) -> dict[str, list[str]]:
    app = desk.app()
    try:
        with app.db.reading() as s:
            out: dict[str, list[str]] = {}
            for number, name in s.execute(select(Ticket.number, History.event)
                                          .join(History, History.ticket_id == Ticket.id)
                                          .order_by(History.id)):
                out.setdefault(number, []).append(name)
            return out
    finally:
        app.close()
