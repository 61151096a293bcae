"""One way to run a spooled mail through the pipeline again: the daemon's drain of
`spool/inbound` and `maildesk spool retry` both call `redeliver`.

Every spooled mail got a 250 already, so from here a mail only ever moves forward (into a
ticket) or aside (to `spool/failed`): a 5xx after acceptance, or a bug, parks it in
`spool/failed` as Postfix parks a mail it cannot deliver in its `hold` queue. A temporary
failure leaves it where it is. Nothing here deletes a mail that has not been stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from maildesk.intake.spool import Spool

if TYPE_CHECKING:
    from maildesk.runtime import Runtime

__all__ = ["Redelivered", "redeliver"]

log = logging.getLogger("maildesk.spool")


@dataclass(frozen=True)
class Redelivered:
    """What became of one spooled mail: `done` (stored, or a duplicate of a stored one),
    `kept` (still an unmatched bounce), `waiting` (temporary failure, left in place), or
    `failed` (moved to, or left in, `spool/failed`)."""

    spool_id: str
    status: str
    reply: str


def redeliver(rt: Runtime, spool: Spool, spool_id: str, *,
              database_up: Callable[[], bool] | None = None) -> Redelivered:
    """Run one spooled mail through the pipeline again and move its file accordingly.

    A temporary failure (database away) leaves the mail in place when `database_up` says
    the database is down, or when no such probe is given; with the database up, the same
    error is this mail's own (e.g. a packet over MariaDB's limit) and it goes aside."""
    from maildesk.pipeline import process
    from maildesk.store.dberrors import is_transient

    mail = spool.get(spool_id)
    try:
        outcome = process(rt, mail.raw, mail.envelope)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if is_transient(exc) and (database_up is None or not database_up()):
            return Redelivered(spool_id, "waiting", f"still failing: {reason}")
        log.error("spooled mail %s failed: %s", spool_id, reason)
        _aside(rt, spool, spool_id, reason)
        return Redelivered(spool_id, "failed", f"failed: {reason}")
    if 400 <= outcome.code < 500:
        return Redelivered(spool_id, "waiting", outcome.reply)
    if outcome.code >= 500:
        # Acknowledged with 250 before a rule or a config change refused it: kept.
        log.warning("spooled mail %s refused after acceptance: %s", spool_id, outcome.reply)
        _aside(rt, spool, spool_id, f"refused: {outcome.reply}")
        return Redelivered(spool_id, "failed", outcome.reply)
    if outcome.result == "unmatched_bounce" and spool is rt.spools.unmatched:
        return Redelivered(spool_id, "kept", outcome.reply)  # still no ticket: stays put
    spool.remove(spool_id)
    return Redelivered(spool_id, "done", outcome.reply)


def _aside(rt: Runtime, spool: Spool, spool_id: str, reason: str) -> None:
    """Into `spool/failed` (written and fsynced there before it leaves its old folder)."""
    if spool is rt.spools.failed:
        return
    mail = spool.get(spool_id)
    rt.spools.failed.put(mail.raw, mail.envelope, reason)
    spool.remove(spool_id)
