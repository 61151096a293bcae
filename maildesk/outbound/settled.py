"""The common outcomes of a send settled in Core statements: the relay's 250s, and the
temporary failures of a relay that is down or refuses for now (issue 20).

Both are most of what a sender settles: every mail when the relay takes them, every mail
again while it is away. The unit of work loaded each row with its bytes and flushed an
attempt object and an UPDATE per row, a third of the sender's CPU when the mails went out
and three quarters of it while they were deferred. Here the whole batch is one SELECT of
what the decision needs, one INSERT of the attempts and an UPDATE per shape of change:
the same changes as `outbox.settle_in`'s loop, which keeps what is rare (a failure for
good, a retry past `give_up_after`, a row that could not be rendered, the same row twice).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Select, Table, Update, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from maildesk.outbound.idsets import ids_in, ids_params, sized
from maildesk.store.db import execute_core
from maildesk.store.models import OutboxAttempt, OutboxMail

__all__ = ["Outcome", "settle_common"]


class Outcome(Protocol):
    """What this module reads of `outbox.AttemptResult` (which imports this module)."""

    @property
    def id(self) -> int: ...
    @property
    def result(self) -> str: ...
    @property
    def error(self) -> str | None: ...
    @property
    def raw(self) -> bytes | None: ...
    @property
    def built(self) -> bool: ...


_O = TypeVar("_O", bound=Outcome)

_OUTBOX = cast(Table, OutboxMail.__table__)
_INSERT_ATTEMPTS = insert(cast(Table, OutboxAttempt.__table__))


def settle_common(session: Session, outcomes: list[_O], now: datetime, *,
                  delay: Callable[[int], float], give_up_after: float) -> list[_O]:
    """Settle the sent and the retried-later outcomes of `outcomes`; returns the rest for
    the loop. `delay(attempts)` is the seconds until the next try of a row that has now
    been tried `attempts` times; a retry of a row older than `give_up_after` seconds is
    left to the loop (it fails for good there, with its history and event)."""
    ids = [o.id for o in outcomes]
    common = [o for o in outcomes if o.built and o.result in ("sent", "retry")]
    if not common or len(set(ids)) != len(ids):  # the same row twice: in order, by the loop
        return outcomes
    size = sized(len(common))
    found = {row.id: row for row in execute_core(
        session, _rows(size), ids_params([o.id for o in common], size))}
    give_up = timedelta(seconds=give_up_after)
    done: list[_O] = []
    shapes: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for o in common:
        row = found.get(o.id)
        if row is None:
            continue  # a row gone is skipped, as the loop does
        queued = row.state == "queued"
        if o.result == "retry" and queued and now - row.created_at >= give_up:
            continue  # fails for good: the loop's
        done.append(o)
        values: dict[str, object] = {"b_id": o.id}
        if o.raw is not None and not row.size:
            values["b_raw"] = o.raw  # what went out (or will, on the next attempt)
        if queued and o.result == "sent":
            values.update(b_state="sent", b_sent_at=now, b_last_error=o.error)
        elif queued:  # else settled by someone else while our lease had run out
            values.update(b_last_error=o.error, b_next_attempt_at=now + timedelta(
                seconds=delay(row.attempts + 1)))
        shapes.setdefault(tuple(values), []).append(values)
    if done:
        execute_core(session, _INSERT_ATTEMPTS, [
            dict(outbox_id=o.id, at=now, ok=o.result == "sent", error=o.error) for o in done])
    for keys, rows in shapes.items():
        execute_core(session, _settled(keys), rows)
    settled = {o.id for o in done}
    return [o for o in outcomes if o.id not in settled]


@lru_cache(maxsize=16)
def _rows(size: int | None) -> Select[Any]:
    """What the decision needs of each row, not its bytes; built once per size of the ids
    (outbound/idsets.py)."""
    c = _OUTBOX.c
    return select(c.id, c.state, c.attempts, c.created_at,
                  func.length(c.raw).label("size")).where(ids_in(c.id, size))


@lru_cache(maxsize=16)
def _settled(keys: tuple[str, ...]) -> Update:
    """The UPDATE of one shape of settled rows, built once (its compiled form is cached)."""
    return (update(_OUTBOX).where(_OUTBOX.c.id == bindparam("b_id"))
            .values(attempts=_OUTBOX.c.attempts + 1, claimed_by=None, claimed_until=None,
                    **{k[2:]: bindparam(k) for k in keys if k != "b_id"}))
