"""The cheaper dispatch of issue 20 writes what the slower one wrote: the spec JSON of one
shared encoder, the reply tokens made once a day per ticket and agent, the caps' upserts
past the ORM's layer."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime

from sqlalchemy import select

from maildesk.outbound.compose import _token, reply_token
from maildesk.outbound.deferred import Spec
from maildesk.store.models import OutboxMail
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
