"""The sent and retried-later outcomes settled in Core statements (outbound/settled.py,
issue 20) change the outbox exactly as the unit of work's loop does (`settle_each`), on
every backend: the same outcomes on two equal sets of rows, compared column by column."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from maildesk.outbound.outbox import AttemptResult, settle_each, settle_in
from maildesk.store.models import OutboxAttempt, OutboxMail, utcnow
from tests.conftest import Desk

# (state, attempts, age in seconds, raw) of each row; and each row's outcome
ROWS = [
    ("queued", 0, 5, b"built"),         # sent
    ("queued", 0, 5, b""),              # sent, rendered by the pass: the bytes kept
    ("queued", 2, 60, b"built"),        # retry: backed off by its third attempt
    ("queued", 0, 5, b""),              # retry of a rendered row: the bytes kept
    ("sent", 1, 5, b"built"),           # sent again after its lease ran out
    ("failed", 3, 5, b"built"),         # retry of a row failed meanwhile
    ("queued", 4, 10 * 86400, b"x"),    # retry past give_up_after: failed for good
    ("queued", 0, 5, b"x"),             # refused: failed for good
    ("queued", 0, 5, b""),              # could not be rendered
]
OUTCOMES = [
    ("sent", None, None, True),
    ("sent", "250 2.0.0 noted", b"rendered", True),
    ("retry", "451 4.3.0 try later", None, True),
    ("retry", "connection refused", b"rendered", True),
    ("sent", None, None, True),
    ("retry", "421 busy", None, True),
    ("retry", "451 still", None, True),
    ("failed", "550 5.1.1 no such user", None, True),
    ("retry", "template error: x", None, False),
]
COLUMNS = ("state", "attempts", "raw", "last_error", "next_attempt_at", "sent_at",
           "claimed_by", "claimed_until")


def _rows(app: Any, tag: str) -> list[int]:
    now = utcnow()
    with app.db.transaction() as s:
        rows = [OutboxMail(kind="notification", mail_from="bounces@example.com",
                           rcpt_json=json.dumps([f"{tag}{i}@example.org"]), to_addr="x",
                           subject=f"s{i}", message_id=f"{tag}{i}@example.com", raw=raw,
                           state=state, attempts=attempts, claimed_by="w:1/c",
                           claimed_until=now + timedelta(minutes=1),
                           next_attempt_at=now - timedelta(seconds=age),
                           created_at=now - timedelta(seconds=age))
                for i, (state, attempts, age, raw) in enumerate(ROWS)]
        s.add_all(rows)
        s.flush()
        return [row.id for row in rows]


def _outcomes(ids: list[int]) -> list[AttemptResult]:
    return [AttemptResult(i, result, error, raw, built)
            for i, (result, error, raw, built) in zip(ids, OUTCOMES, strict=True)]


def _state(app: Any, ids: list[int]) -> list[tuple[Any, ...]]:
    with app.db.reading() as s:
        rows = {r.id: r for r in s.execute(select(OutboxMail).where(OutboxMail.id.in_(ids)))
                .scalars()}
        tries = {i: [(a.ok, a.error) for a in s.execute(
            select(OutboxAttempt).where(OutboxAttempt.outbox_id == i)
            .order_by(OutboxAttempt.id)).scalars()] for i in ids}
        return [(*(getattr(rows[i], c) for c in COLUMNS), tries[i]) for i in ids]


@pytest.mark.backends()
def test_the_same_changes_as_the_loop(desk: Desk) -> None:
    app = desk.app()
    try:
        lean_ids, loop_ids = _rows(app, "a"), _rows(app, "b")
        now = utcnow()
        with app.db.transaction() as s:
            failed_lean = settle_in(s, app.config, _outcomes(lean_ids))
        with app.db.transaction() as s:
            failed_loop = settle_each(s, app.config, _outcomes(loop_ids), utcnow())
        lean, loop = _state(app, lean_ids), _state(app, loop_ids)
        # next_attempt_at and sent_at follow each set's and each settle's clock: near
        for row_lean, row_loop in zip(lean, loop, strict=True):
            for k in (4, 5):
                a, b = row_lean[k], row_loop[k]
                if a is not None and b is not None and a != b:
                    assert abs((a - b).total_seconds()) < 5
                    row_lean, row_loop = (*row_lean[:k], None, *row_lean[k + 1:]), \
                        (*row_loop[:k], None, *row_loop[k + 1:])
            assert row_lean == row_loop
        assert [lean_ids.index(i) for i in failed_lean] == \
            [loop_ids.index(i) for i in failed_loop] == [6, 7]
        states = [row[0] for row in lean]
        assert states == ["sent", "sent", "queued", "queued", "sent", "failed", "failed",
                          "failed", "queued"]
        assert [row[2] for row in lean][:4] == [b"built", b"rendered", b"built", b"rendered"]
        backed_off = lean[2][4] - now  # third attempt: retry_first doubled twice, capped
        first, cap = app.config.outbound.retry_first, app.config.outbound.retry_max
        assert abs(backed_off.total_seconds() - min(4 * first, cap)) < 5
    finally:
        app.close()
