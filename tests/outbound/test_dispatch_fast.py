"""The cheaper dispatch of issue 20 writes what the slower one wrote: the spec JSON of one
shared encoder, the reply tokens made once a day per ticket and agent, the caps' upserts
past the ORM's layer."""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import event, select

from maildesk.app import App
from maildesk.intake.message import Envelope
from maildesk.outbound.compose import _token, reply_token
from maildesk.outbound.deferred import Spec
from maildesk.outbound.hygiene import take_in_order, take_slot
from maildesk.store.models import AutoResponseCount, OutboxMail
from maildesk.tokens import make_token, verify_token
from tests.conftest import Desk, simple_mail


def _spec(**context: object) -> Spec:
    return Spec(template="agent/notification_new.txt", language="de", context=context,
                from_name="Grüße \u202e via Support", from_addr="support@example.com",
                to=[("Ålice", "alice@example.com")], subject="[Ticket#1] \U0001f600 \"x\"",
                extra={"X-Loop": "example.com"}, reply_to="support+t1@example.com",
                references=[], quote=None, commands=True)


def test_a_spec_is_the_json_dumps_of_its_fields_whatever_the_values() -> None:
    for spec in (_spec(), _spec(n=1.5, big=10**30, neg=-0.0, t=True, none=None,
                                nested={"a": [1, {"b": "\x00\n\t\\"}], "": ""}),
                 _spec(text="ä" * 3000, tags=["x", "y"], inf=float("inf"))):
        assert spec.dumps() == json.dumps(asdict(spec), separators=(",", ":"))
        assert Spec.loads(spec.dumps()) == spec


def test_a_spec_with_a_field_set_again_or_an_attribute_of_its_own_is_written_the_same() -> None:
    """`dumps` takes the instance's dict as it stands only while it is the fields in order."""
    spec = _spec(a=1)
    want = json.dumps(asdict(spec), separators=(",", ":"))
    del spec.quote  # the dict's order changes: set again, it comes last
    spec.quote = None
    assert spec.dumps() == want
    spec = _spec(a=1)
    spec.__dict__["note"] = "not a field"
    assert spec.dumps() == want


def test_a_spec_that_json_cannot_write_fails_as_it_did() -> None:
    loop: dict[str, object] = {}
    loop["self"] = loop
    for context, error in (({"x": {1, 2}}, TypeError), ({"loop": loop}, ValueError)):
        try:
            _spec(**context).dumps()
        except error:
            continue
        raise AssertionError(f"{context!r} was written")


def test_the_reply_token_is_make_tokens_of_the_day() -> None:
    secret = b"s" * 32
    now = datetime.now(UTC)
    token = reply_token(secret, 42, "Alice@Example.com")
    assert token == make_token(secret, 42, "Alice@Example.com", now) or \
        now.date() != datetime.now(UTC).date()  # midnight passed between the two
    assert reply_token(secret, 42, "Alice@Example.com") == token  # made once, then found
    assert reply_token(secret, 43, "Alice@Example.com") != token
    assert reply_token(b"t" * 32, 42, "Alice@Example.com") != token
    ref = verify_token(secret, token, ["alice@example.com"])
    assert ref is not None and ref.ticket_id == 42 and ref.agent == "alice@example.com"
    # the day is the token's: any time of that day makes the same one
    late = datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC)
    assert _token(secret, 42, "alice@example.com", date(2026, 12, 1)) == \
        make_token(secret, 42, "alice@example.com", late)
    assert _token(secret, 42, "alice@example.com", date(2026, 12, 2)) != \
        make_token(secret, 42, "alice@example.com", late)


@pytest.mark.backends
def test_a_mail_queues_the_rows_it_did(desk: Desk) -> None:
    """The auto-response and the notifications of a mail and of a reply: one row each,
    a spec JSON that reads back as written, a reply token per agent that verifies."""
    first = desk.ingest(simple_mail(message_id="fast-1@example.org")).ticket
    desk.ingest(simple_mail(subject=f"Re: [Ticket#{first}] Printer",
                            message_id="fast-2@example.org"))
    app = desk.app()
    try:
        with app.db.transaction() as session:
            rows = list(session.execute(select(OutboxMail).order_by(OutboxMail.id)).scalars())
        agents = [a.address for a in app.config.agents]
        secret = app.secret
    finally:
        app.close()
    kinds = [r.kind for r in rows]
    assert kinds.count("autoreply") == 1 and kinds.count("notification") >= 2
    for row in rows:
        spec = Spec.loads(row.spec_json or "")
        assert spec.dumps() == row.spec_json and row.raw == b""
        assert json.loads(row.rcpt_json) == [row.to_addr]
        if row.kind == "notification":
            token = (spec.reply_to or "").split("+", 1)[1].split("@", 1)[0]
            ref = verify_token(secret, token, agents)
            assert ref is not None and ref.agent == row.to_addr


def _counts(app: App) -> dict[tuple[str, str], int]:
    with app.db.reading() as session:
        return {(r.address, r.day): r.count for r in session.execute(
            select(AutoResponseCount.address, AutoResponseCount.day, AutoResponseCount.count))}


@pytest.mark.backends
def test_the_caps_in_one_upsert_count_as_one_by_one(desk: Desk) -> None:
    """Every way three slots can fall (each new, below its cap, at it; a count is never 0:
    `take_slot` starts at 1): the slots taken and the table after are those of `take_slot`
    one by one, run on the same counts under other keys."""
    app = desk.app()
    try:
        period = "2026120110"
        cases = 0
        for start in itertools.product((None, 1, 2), repeat=3):  # a row's count, or none
            caps = (1, 2, 2)
            ways = {}
            for way in ("one", "all"):
                keys = [f"*{way}:{cases}:{i}" for i in range(3)]
                with app.db.transaction() as session:
                    for key, count in zip(keys, start, strict=True):
                        if count is not None:
                            session.add(AutoResponseCount(address=key, day=period,
                                                          count=count))
                with app.db.transaction() as session:
                    wanted = [(k, c, period) for k, c in zip(keys, caps, strict=True)]
                    if way == "one":
                        taken = 0
                        for key, cap, _ in wanted:
                            if not take_slot(session, key, cap, period):
                                break
                            taken += 1
                    else:
                        taken = take_in_order(session, wanted)
                left = {k[0].split(":")[2]: n for k, n in _counts(app).items()
                        if k[0].startswith(f"*{way}:{cases}:")}
                ways[way] = (taken, left)
            assert ways["one"] == ways["all"], (start, ways)
            cases += 1
        # a cap of 0, or a key twice: one by one, as before
        with app.db.transaction() as session:
            assert take_in_order(session, [("*z:a", 1, period), ("*z:b", 0, period)]) == 1
            assert take_in_order(session, [("*z:c", 5, period), ("*z:c", 5, period)]) == 2
        assert _counts(app)[("*z:c", period)] == 2
    finally:
        app.close()


@pytest.mark.backends
def test_an_auto_response_takes_its_three_slots_in_one_statement(desk: Desk,
                                                                 backend: str) -> None:
    app = desk.app()
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "autoresponse_counts" in statement:
            seen.append(statement.split()[0].upper())

    try:
        event.listen(app.db.engine, "before_cursor_execute", note)
        outcome = app.ingest(simple_mail(sender="dave@example.org"),
                             Envelope("dave@example.org", ["support@example.com"]))
        event.remove(app.db.engine, "before_cursor_execute", note)
        counts = _counts(app)
    finally:
        app.close()
    assert outcome.ticket
    assert seen == (["INSERT"] if backend != "mariadb" else ["UPDATE", "INSERT"] * 3)
    assert sorted(n for (k, _), n in counts.items()) == [1, 1, 1]
    assert [k for (k, _) in counts if "@" in k] == ["dave@example.org"]


@pytest.mark.backends
def test_the_caps_periods_are_strftimes(desk: Desk) -> None:
    """The ticket's and the desk's hour ("%Y%m%d%H") and the sender's day ("%Y-%m-%d"),
    as strftime wrote them (an hour passing between the two reads is allowed for)."""
    app = desk.app()
    try:
        before = datetime.now(UTC)
        outcome = app.ingest(simple_mail(sender="erin@example.org"),
                             Envelope("erin@example.org", ["support@example.com"]))
        after = datetime.now(UTC)
        counts = _counts(app)
    finally:
        app.close()
    assert outcome.ticket
    periods = {k.split(":")[0] if k.startswith("*ticket") else k: day
               for (k, day) in counts}
    assert periods["erin@example.org"] in {before.strftime("%Y-%m-%d"),
                                           after.strftime("%Y-%m-%d")}
    for key in ("*ticket", "*all*"):
        assert periods[key] in {before.strftime("%Y%m%d%H"), after.strftime("%Y%m%d%H")}


def test_a_shared_value_is_made_once_a_block_and_each_time_outside_one() -> None:
    from maildesk.outbound.queuing import shared, together

    class _Session:
        info: dict[str, object] = {}

    session: Any = _Session()
    made: list[int] = []

    def make() -> int:
        made.append(len(made))
        return len(made)

    assert shared(session, "k", make) == 1 and shared(session, "k", make) == 2
    with together(session):
        first = shared(session, "k", make)
        assert shared(session, "k", make) == first == 3
        assert shared(session, "other", make) == 4
    assert shared(session, "k", make) == 5 and made == [0, 1, 2, 3, 4]


@pytest.mark.backends
def test_a_new_tickets_mails_carry_the_tickets_values_as_ticket_context_makes_them(
        desk: Desk) -> None:
    """The auto-response and the notifications share one `ticket_context` (made once a
    dispatch): each spec holds what a call of its own would have made."""
    from maildesk.outbound.compose import ticket_context
    from maildesk.store.models import Ticket

    number = desk.ingest(simple_mail(sender="fay@example.org",
                                     message_id="shared-1@example.org")).ticket
    app = desk.app()
    try:
        with app.db.transaction() as session:
            ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
            want = json.loads(json.dumps(ticket_context(app.config, ticket,
                                                        app.config.queue(ticket.queue))))
            specs = [(row.kind, Spec.loads(row.spec_json or "")) for row in session.execute(
                select(OutboxMail).where(OutboxMail.ticket_id == ticket.id)).scalars()]
    finally:
        app.close()
    assert sorted({kind for kind, _ in specs}) == ["autoreply", "notification"]
    for _, spec in specs:
        assert {k: spec.context[k] for k in want} == want
