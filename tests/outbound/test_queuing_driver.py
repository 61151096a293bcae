"""The outbox rows of a mail written by the driver's own multi-row INSERT..RETURNING
(`queuing._insert_rows`) are the rows SQLAlchemy's insertmanyvalues wrote; a cap's upsert
and the INSERT go to the DBAPI cursor (`store.lean.driver_rows`) with the connection's own
error handling; a reply-to is checked as `check_address` checks it (issue 20)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from maildesk.outbound import queuing
from maildesk.outbound.deferred import Spec
from maildesk.outbound.render import InvalidAddress, check_address
from maildesk.store.db import execute_core
from maildesk.store.models import OutboxMail, Ticket
from tests.conftest import Desk, simple_mail

_VALUES = list(queuing._COLUMNS)


def _rows(ticket_id: int | None, tag: str, n: int) -> list[dict[str, Any]]:
    at = datetime(2026, 12, 1, 23, 59, 58, 123456)
    return [dict(ticket_id=ticket_id if i % 3 else None,
                 kind=("autoreply", "notification")[i % 2],
                 mail_from="bounce@example.com", rcpt_json=f'["a{i}@example.com"]',
                 to_addr=f"a{i}@example.com", subject=f"[Ticket#1] Grüße \U0001f600 {i}",
                 message_id=f"{tag}-{i}@example.com",
                 raw=b"" if i % 2 else bytes(range(256)) * 3,
                 spec_json=None if i % 4 == 3 else '{"x":"\\u00e4"}', state="queued",
                 attempts=i % 2, next_attempt_at=at, created_at=at, settle_failures=0)
            for i in range(n)]


def _stored(session: Any, tag: str) -> list[tuple[Any, ...]]:
    rows = session.execute(select(OutboxMail).where(OutboxMail.message_id.like(f"{tag}-%"))
                           .order_by(OutboxMail.id)).scalars()
    return [tuple(getattr(r, c) if c != "message_id" else r.message_id.replace(tag, "")
                  for c in _VALUES) + (r.claimed_by, r.claimed_until, r.last_error, r.sent_at)
            for r in rows]


@pytest.mark.backends
def test_the_drivers_insert_writes_the_rows_insertmanyvalues_wrote(
        desk: Desk, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ticket_id = desk.ingest(simple_mail(message_id="drv@example.org")).ticket
    app = desk.app()
    try:
        with app.db.transaction() as session:
            tid = session.execute(select(Ticket.id).where(Ticket.number == ticket_id)
                                  ).scalar_one()
        with app.db.transaction() as session:
            assert queuing._binds(session.get_bind().dialect) is not None
        monkeypatch.setattr(queuing, "_CHUNK", 4)  # statements of 4, 4 and 3 rows
        for n in (2, 11):
            with app.db.transaction() as session:
                old = {(r.message_id, r.to_addr): r.id for r in execute_core(
                    session, queuing._insert_returning(), _rows(tid, f"old{n}", n))}
                new = queuing._insert_rows(session, _rows(tid, f"new{n}", n))
            with app.db.transaction() as session:
                assert _stored(session, f"old{n}") == _stored(session, f"new{n}")
                ids = {(m.replace(f"new{n}", f"old{n}"), a): i for i, m, a in new}
                assert len(new) == n and set(ids) == set(old)
                stored = {m: i for m, i in session.execute(
                    select(OutboxMail.message_id, OutboxMail.id)
                    .where(OutboxMail.message_id.like(f"new{n}-%")))}
                assert {m: int(i) for i, m, _ in new} == stored
    finally:
        app.close()


@pytest.mark.backends
def test_a_driver_error_is_sqlalchemys_as_before(desk: Desk) -> None:
    """A row that breaks a constraint (a ticket that is not there) fails as it did, a
    wrapped IntegrityError, and the transaction rolls back."""
    desk.ingest(simple_mail(message_id="drv-err@example.org"))
    app = desk.app()
    try:
        for write in ("old", "new"):
            with pytest.raises(IntegrityError), app.db.transaction() as session:
                rows = _rows(987654, f"bad{write}", 3)
                if write == "old":
                    execute_core(session, queuing._insert_returning(), rows)
                else:
                    queuing._insert_rows(session, rows)
        with app.db.transaction() as session:
            assert _stored(session, "badold") == _stored(session, "badnew") == []
    finally:
        app.close()


def test_the_insert_sql_names_every_column_once_per_row() -> None:
    sql = queuing._insert_sql("sqlite", "qmark", 3)
    assert sql.count("?") == 3 * len(queuing._COLUMNS)
    assert sql.endswith(" RETURNING id, message_id, to_addr")
    assert set(queuing._COLUMNS) == {c.name for c in OutboxMail.__table__.columns} - {
        "id", "claimed_by", "claimed_until", "last_error", "sent_at"}


def _spec(reply_to: str) -> Spec:
    return Spec(template="agent/notification_new.txt", language="en", context={},
                from_name="Support", from_addr="support@example.com",
                to=[("Alice", "alice@example.com")], subject="x", reply_to=reply_to)


@pytest.mark.parametrize("reply_to", [
    "support+t1a0123abcdaaaa@example.com", "support+T1@example.com", "support+t1@Example.COM",
    "support+t1@exa mple.com", "support+t1@example..com", "support+@example.com",
    "support+t1+x@example.com", "+t1@example.com", "support+t\u00e41@example.com",
    "süpport+t1@example.com", "support+t1@-example.com", "support+t-1@example.com"])
def test_a_reply_to_is_refused_as_check_address_refuses_it(desk: Desk, reply_to: str) -> None:
    app = desk.app()
    try:
        try:
            check_address(reply_to)
            valid = True
        except InvalidAddress:
            valid = False
        if valid:
            _spec(reply_to).check(app.config)
        else:
            with pytest.raises(InvalidAddress):
                _spec(reply_to).check(app.config)
    finally:
        app.close()


def test_the_text_digest_folds_runs_of_any_length_as_split_and_join() -> None:
    """hygiene.text_digest's one-pass fold of space runs (split at two spaces, pieces
    stripped and joined): the digest of `" ".join(text.lower().split())` for runs of every
    length, at the start, the end, between CRLF lines, a 100 KB text."""
    import hashlib
    import random

    from maildesk.outbound.hygiene import text_digest

    def plain(text: str) -> str:
        return hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest()

    rng = random.Random(2012)
    gaps = [" ", "\t", "\r\n", "\n\n", "\x1c", "\x0b \x0c"]
    texts = [" " * n for n in range(8)]
    texts += [" " * a + "x" + " " * b + "Y" + " " * c
              for a in range(6) for b in range(1, 8) for c in range(6)]
    texts += ["".join(rng.choice(["w", "Ab", *gaps, " " * rng.randint(2, 9)])
                      for _ in range(rng.randint(0, 60))) for _ in range(3000)]
    words = ["printer", "ON", "fire", "Grüße", "ΣΟΦΙΑ"]
    texts.append("".join(rng.choice(words) + rng.choice(gaps) for _ in range(20000)))
    # non-ASCII: lead bytes of the other spaces' UTF-8 with no such space (’ ©  ᚁ), then
    # one of each at the very end of a long text
    long = "".join(rng.choice([*words, "’", "©", "\u1681", "\u3001"]) + rng.choice(gaps)
                   for _ in range(5000))
    texts.append(long)
    texts += [long + "x" + chr(c) + "y" for c in range(0x80, 0x3001) if chr(c).isspace()]
    for text in texts:
        assert text_digest(text) == plain(text), repr(text[:200])
