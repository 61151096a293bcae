"""Statements over a set of ids with a bound parameter per id (outbound/idsets.py, issue
20) select and change what the expanding form did, on every backend: the claim's UPDATE
and SELECT, the quoted articles and their attachments, the settle's SELECT; and the claimed rows'
recipients read without the JSON decoder."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from maildesk.outbound import deferred, outbox, settled
from maildesk.outbound.idsets import LARGEST, ids_params, sized
from maildesk.store.db import execute_core
from maildesk.store.models import Article, OutboxMail, utcnow
from tests.conftest import Desk, simple_mail


def test_sizes_and_parameters() -> None:
    assert [sized(n) for n in (0, 1, 2, 3, 4, 5, 8, 9, 100, 128, 129, 256, 257, 5000)] == \
        [None, 1, 2, 4, 4, 8, 8, 16, 128, 128, 256, 256, None, None]
    assert LARGEST == 256
    assert ids_params([7, 3, 5], 4, claim="c") == {"id_0": 7, "id_1": 3, "id_2": 5,
                                                   "id_3": 5, "claim": "c"}
    assert ids_params([7, 3], None, claim="c") == {"ids": [7, 3], "claim": "c"}


def _rows(session: Any, statement: Any, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(tuple(row) for row in execute_core(session, statement, params))


@pytest.mark.backends()
def test_the_same_rows_as_the_expanding_form(desk: Desk) -> None:
    for n in range(3):
        desk.ingest(simple_mail(subject=f"s{n}", sender=f"c{n}@example.org"),
                    sender=f"c{n}@example.org")
    rng = random.Random(20)
    app = desk.app()
    try:
        with app.db.reading() as session:
            # an outbox row's id and an article's (a server's sequences go on from
            # earlier tests): each table has a row among the ids
            known = [min(r[0] for r in session.execute(select(OutboxMail.id))),
                     min(r[0] for r in session.execute(select(Article.id)))]
            first = min(known)
            for count in (1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 65, 100, 255, 256, 257, 300):
                ids = rng.sample(range(first - 50, first + 350), count - 2) + known \
                    if count > 2 else known[:count]
                size = sized(len(ids))
                pairs = [(settled._rows(size), settled._rows(None)),
                         *zip(deferred._quoted_statements(size),
                              deferred._quoted_statements(None), strict=True)]
                for at, (sized_form, expanding) in enumerate(pairs):
                    got = _rows(session, sized_form, ids_params(ids, size))
                    assert got == _rows(session, expanding, {"ids": ids}), count
                    if at < 2 and count > 1:  # `known` rows exist (no attachment)
                        assert got, count
    finally:
        app.close()


def _queue(app: Any, count: int, *, due: int) -> None:
    """`count` queued outbox rows: the first `due` due now and never tried, the rest tried
    once and deferred by an hour (a relay that is down)."""
    now = utcnow()
    with app.db.transaction() as s:
        for i in range(count):
            s.add(OutboxMail(kind="notification", mail_from="bounces@example.com",
                             rcpt_json=json.dumps([f"a{i}@example.org"]), to_addr="x",
                             subject=f"s{i}", message_id=f"m{i}@example.com", raw=b"x",
                             state="queued", attempts=0 if i < due else 1,
                             next_attempt_at=now if i < due else now + timedelta(hours=1)))


@pytest.mark.backends()
def test_claims_take_what_the_expanding_form_took(desk: Desk) -> None:
    app = desk.app()
    try:
        _queue(app, 300, due=300)
        taken: list[int] = []
        for limit in (1, 3, 7, 64, 100, 260):  # sizes 1..256 and past LARGEST
            with app.db.transaction() as s:
                got = outbox.claim_in(s, "w:1", limit, timedelta(minutes=5), "w:1/x")
            assert len(got) == min(limit, 300 - len(taken))
            assert all(c.claim == "w:1/x" and c.recipients and c.raw == b"x" for c in got)
            taken += [c.id for c in got]
        assert len(taken) == len(set(taken)) == 300
        with app.db.transaction() as s:  # claimed: nothing is due any more
            assert outbox.claim_in(s, "w:2", 10, timedelta(minutes=5), "w:2/y") == []
    finally:
        app.close()


def test_rows_found_by_id_past_a_backlog(desk: Desk) -> None:
    """Behind a relay that is down the deferred rows pile up; a claim, a lease's renewal
    and a settle failure must find their few rows by id, not walk every queued row of
    ix_outbox_due (SQLite, which has no statistics, chose that index for the `state` test:
    a claim grew 4x in 40,000 mails)."""
    app = desk.app()
    try:
        _queue(app, 2_005, due=5)
        seen: list[tuple[str, Any]] = []

        def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            if " IN (" in statement and "outbox" in statement:
                seen.append((statement, parameters))

        event.listen(app.db.engine, "before_cursor_execute", note)
        try:
            with app.db.transaction() as s:
                got = outbox.claim_in(s, "w:1", 100, timedelta(minutes=5), "w:1/x")
            ids = [c.id for c in got]
            assert outbox.renew(app.db, "w:1/x", ids) == 5
            outbox.note_settle_failure(app.db, ids[:1], "boom")
        finally:
            event.remove(app.db.engine, "before_cursor_execute", note)
        assert sorted(c.attempts for c in got) == [0] * 5  # the due ones, none deferred
        with app.db.transaction() as s:  # leased now: not due again
            assert outbox.claim_in(s, "w:2", 100, timedelta(minutes=5), "w:2/y") == []
        assert len(seen) >= 5, seen  # claim: UPDATE, SELECT; renew; settle failure: 2
        with app.db.reading() as s:
            for statement, parameters in seen:
                plan = s.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                                      parameters).fetchall()
                details = " ".join(str(row[-1]) for row in plan)
                assert "ix_outbox_due" not in details, (statement, details)
    finally:
        app.close()


def test_recipients_as_json_read_them() -> None:
    """claim_in reads the usual one-address recipients without the JSON decoder: the same
    list, or the same error, as json.loads."""
    texts = [json.dumps(["a@example.org"]), json.dumps(["jürgen@bücher.example"]),
             json.dumps(["jürgen@example.org"], ensure_ascii=False), "[]", '[""]', '["]',
             '["', '"]', "", "[", '["a@x", "b@y"]', '["a@x","b@y"]', '["a\\"b@x"]',
             '["a\\u00e4@x"]', '["a\x01@x"]', '["a\x7f@x"]', '["a\u2028@x"]', '["a"b@x"]',
             ' ["a@x"]', '["a@x"] ', '["a@x",]', "null", '{"a": 1}', '["\\\\"]', '["a\t@x"]']
    for text in texts:
        try:
            expected: object = json.loads(text)
        except ValueError as exc:
            expected = (type(exc), str(exc))
        try:
            got: object = outbox._recipients(text)
        except ValueError as exc:
            got = (type(exc), str(exc))
        assert got == expected and type(got) is type(expected), text
