"""Whether one event may get an auto-response (SPEC 8), and the per-sender daily cap.

The classification says what the mail itself forbids (null sender, Auto-Submitted, lists,
our own loop marks); this adds what only the outbound side knows: the queue's switch for
the event, the routing rule's veto, the recipient, and how many auto-responses that
address already had today. The cap is the last line against a ping-pong with a robot that
ignores every header, and against using maildesk as a reflector to mail-bomb a victim;
beside it, one auto-response per ticket and hour to the same text, and an hourly cap for
the whole desk (`instance.autoresponse_hourly_cap`, logged as a warning when reached).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, update
from sqlalchemy.orm import Session

from maildesk.config import AUTORESPONSE_DEFAULTS, Config, Queue
from maildesk.events import TicketEvent
from maildesk.marks import is_system_sender
from maildesk.outbound.render import InvalidAddress, check_address
from maildesk.store.db import execute_core, insert_ignore, rowcount
from maildesk.store.lean import connection_of, driver_rows
from maildesk.store.models import AutoResponseCount, utcnow

__all__ = ["Decision", "autoresponse_decision", "take_daily_slot", "take_slot"]

log = logging.getLogger("maildesk.outbox")

# event kind -> the queue's autoresponse switch
EVENT_SWITCH = {
    "new": "new",
    "followup": "followup",
    "closed_followup": "closed_followup",
    "reject": "reject",
}


@dataclass
class Decision:
    send: bool
    to: str = ""
    reasons: list[str] = field(default_factory=list)
    switched_off: bool = False  # the queue does not answer this event: nothing to record


def autoresponse_decision(session: Session, config: Config, queue: Queue | None,
                          event: TicketEvent) -> Decision:
    """Decide from the mail, the queue and the recipient. The caps are not counted here:
    the caller takes their slots (`take_slots`) once the mail is built, so a broken
    template never spends a sender's cap (issue 11)."""
    switch = EVENT_SWITCH.get(event.kind)
    if switch is None or queue is None:
        return Decision(False, switched_off=True)
    if not queue.autoresponse.get(switch, AUTORESPONSE_DEFAULTS.get(switch, False)):
        return Decision(False, switched_off=True)
    reasons: list[str] = []
    if not event.autoresponse:
        reasons.append("a routing rule turned the auto-response off")
    if event.classification is not None:
        reasons += event.classification.no_autoresponse
    # RFC 3834 answers the sender of this very mail; for a new ticket that is the customer.
    mail = event.mail
    to = ((mail.from_addr if mail else None) or event.ticket.customer or "").lower()
    if not to:
        reasons.append("no sender address to answer")
    else:
        try:
            to = check_address(to)
        except InvalidAddress as exc:
            reasons.append(str(exc))
        if config.is_system_address(to):
            reasons.append(f"our own address: {to}")
        elif is_system_sender(to):
            reasons.append(f"system sender: {to}")
        elif config.agent(to) is not None:
            reasons.append(f"an agent: {to}")
    if reasons:
        return Decision(False, to, reasons)
    return Decision(True, to)


GLOBAL_KEY = "*all*"  # the desk-wide hourly counter's row in autoresponse_counts


def _ticket_key(event: TicketEvent) -> str:
    """One auto-response per ticket and hour for the same text: a robot that answers our
    answer with the same words gets one, a customer who writes something new another."""
    digest = text_digest(event.mail.body if event.mail else "")
    return f"*ticket:{event.ticket.id}:{digest[:16]}"


# str.split()'s whitespace below U+0080 (\x1c-\x1f too), each made a space by translate,
# and the UTF-8 of the rest of it (U+0085, U+00A0, U+1680, U+2000-200A, U+2028, U+2029,
# U+202F, U+205F, U+3000): a text without those has no other whitespace. Each of those is
# looked for only when its lead byte is in the text (a memchr): a search per sequence cost
# a non-ASCII 100 KB text ~0.4 ms, a German text without any of them (issue 20).
_ASCII_SPACES = bytes.maketrans(b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f", b"         ")
# The same, and A-Z lowercased: all str.lower() changes in an ASCII text (issue 20: the
# one translate of its bytes spares lower()'s pass over it, 27 us of 100 KB).
_ASCII_SPACES_LOWER = _ASCII_SPACES.translate(
    bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz"))
_OTHER_SPACES = ((0xC2, re.compile(b"\xc2[\x85\xa0]")),
                 (0xE1, re.compile(b"\xe1\x9a\x80")),
                 (0xE2, re.compile(b"\xe2(?:\x80[\x80-\x8a\xa8\xa9\xaf]|\x81\x9f)")),
                 (0xE3, re.compile(b"\xe3\x80\x80")))


def text_digest(text: str) -> str:
    """sha256 hex of `" ".join(text.split()).lower()` as UTF-8: the words, whatever the
    spacing and case. Issue 20: split and join made a string per word (15,000 for a
    100 KB mail, 0.7 ms); this maps the whitespace to spaces in the bytes and folds the
    runs. Lowercasing first is the same: a space ends a word for the final-sigma rule as
    any whitespace does, and lower() makes no whitespace."""
    if text.isascii():
        data = text.encode("ascii").translate(_ASCII_SPACES_LOWER)
    else:
        lowered = text.lower()
        data = lowered.encode()
        if not lowered.isascii() and any(lead in data and other.search(data) is not None
                                         for lead, other in _OTHER_SPACES):
            return hashlib.sha256(" ".join(lowered.split()).encode()).hexdigest()  # rare way
        data = data.translate(_ASCII_SPACES)
    # Runs of spaces folded in one pass: split at every second-and-first space of a run
    # (left to right, so no piece holds two in a row), each piece's lone edge space gone,
    # the pieces that are left joined by one. The replace loop scanned the text twice or
    # more for a run and again to find none (a 100 KB mail of CRLF lines: 0.8 ms -> 0.4).
    pieces = data.split(b"  ")
    if len(pieces) > 1:
        data = b" ".join([p for p in [p.strip(b" ") for p in pieces] if p])
    return hashlib.sha256(data.strip(b" ")).hexdigest()


def take_slots(session: Session, config: Config, event: TicketEvent, to: str) -> list[str]:
    """Take the slots of a built auto-response: one per ticket and hour for the same text,
    the sender's daily cap, the desk's hourly cap, in that order, stopping at the first
    that is full. The reasons not to send, or []."""
    now = utcnow()
    # strftime's "%Y-%m-%d" and "%Y%m%d%H" (the hour fits the `day` column's 10
    # characters), cut from the ISO date: two strftime calls were ~8 us (issue 20)
    day = now.date().isoformat()
    hour = f"{day[:4]}{day[5:7]}{day[8:10]}{now.hour:02d}"
    cap = config.instance.autoresponse_daily_cap
    hourly = config.instance.autoresponse_hourly_cap
    taken = take_in_order(session, [(_ticket_key(event), 1, hour),
                                    (to.lower(), cap, day),
                                    (GLOBAL_KEY, hourly, hour)])
    if taken == 0:
        return ["this ticket had an auto-response to the same text within the hour"]
    if taken == 1:
        return [f"daily cap of {cap} auto-responses reached for {to}"]
    if taken == 2:
        log.warning("the hourly cap of %d auto-responses for the whole desk is reached: "
                    "a mail flood or a loop? (no auto-response to %s)", hourly, to)
        return [f"hourly cap of {hourly} auto-responses for the desk"]
    return []


def take_in_order(session: Session, wanted: list[tuple[str, int, str]]) -> int:
    """Count one under each (key, cap, period) in order, as `take_slot` does, up to the
    first whose cap is reached: how many were counted.

    SQLite and PostgreSQL: one upsert for all of them (issue 20: an auto-response cost
    three statements, ~100 us; now one, ~55 us), which tells by RETURNING which rows it
    counted. Those after a full one are counted back at once, in the same transaction
    (rare: a cap is reached), a row it made removed, so the table ends as the one-by-one
    way leaves it and no other transaction ever sees them counted (they wait for the row
    lock, then read the final count). MariaDB (no RETURNING on an upsert): one by one,
    the last first (`_widest_first`). A cap of 0, keys that repeat: one by one in order."""
    keys = [(key[:191], cap, period) for key, cap, period in wanted]
    dialect = session.get_bind().dialect
    sql = _upsert_slots(dialect.name, dialect.paramstyle, len(keys))
    if any(cap <= 0 for _, cap, _ in keys) or len({key for key, _, _ in keys}) != len(keys):
        for done, (key, cap, period) in enumerate(keys):
            if not take_slot(session, key, cap, period):
                return done
        return len(keys)
    if sql is None:
        return _widest_first(session, keys)
    # The rows in the reverse order, the widest count (the desk's) first: the upsert locks
    # them in the order of its VALUES, so a transaction that holds a sender's row holds
    # the desk's too, and a group commit waiting for the desk's row holds none a holder
    # of it may want next (issue 20: two ingest threads deadlocked on a sender's and the
    # desk's rows, 1 s each on PostgreSQL). Which were counted is read off RETURNING.
    rows = keys[::-1]
    params: list[str | int] = [value for key, _, period in rows for value in (key, period)]
    params += [value for key, cap, _ in rows[:-1] for value in (key, cap)] + [rows[-1][1]]
    # The driver's own SQL on the session's connection's cursor (`store.lean.driver_rows`),
    # as `execute_core` runs an INSERT: the rows `insert_later` kept stay kept.
    counted = {row[0] for row in driver_rows(connection_of(session), sql, params)}
    done = next((i for i, (key, _, _) in enumerate(keys) if key not in counted), len(keys))
    for key, _, period in keys[done + 1:]:
        if key in counted:  # counted past a full one: give it back
            execute_core(session, _GIVE_BACK, {"key": key, "period": period})
            execute_core(session, _DROP_EMPTY, {"key": key, "period": period})
    return done


def _widest_first(session: Session, keys: list[tuple[str, int, str]]) -> int:
    """`take_in_order` one statement at a time (MariaDB), the last count (the desk's) taken
    first, as the upsert's lock order (below), and counted back when one before it is full.
    In the given order, InnoDB deadlocked two group commits: each held the gap a new
    sender's UPDATE had locked, one the desk's row too, and the other's next INSERT waited
    for that gap (issue 20)."""
    *narrow, (key, cap, period) = keys
    widest = take_slot(session, key, cap, period)
    for done, (each, each_cap, each_period) in enumerate(narrow):
        if not take_slot(session, each, each_cap, each_period):
            if widest:  # counted past a full one: give it back
                execute_core(session, _GIVE_BACK, {"key": key, "period": period})
                execute_core(session, _DROP_EMPTY, {"key": key, "period": period})
            return done
    return len(keys) if widest else len(narrow)


@functools.cache
def _upsert_slots(dialect: str, paramstyle: str, n: int) -> str | None:
    """`take_slot`'s upsert for n rows at once, each with its own cap, the counted ones
    returned: one text for SQLite (3.35+) and PostgreSQL, in the driver's placeholders.
    The driver's SQL, because SQLAlchemy compiles a multi-row INSERT anew on every call
    (~1 ms) and a `text()` costs as much as the three statements it replaces; this one
    about half of them (issue 20). None where it does not apply: MariaDB has no RETURNING
    on an upsert, and another placeholder style is not written here."""
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(paramstyle)
    if dialect not in ("sqlite", "postgresql") or mark is None:
        return None
    rows = ", ".join(f"({mark}, {mark}, 1)" for _ in range(n))
    caps = " ".join(f"WHEN {mark} THEN {mark}" for _ in range(n - 1))
    return (f"INSERT INTO autoresponse_counts (address, day, count) VALUES {rows} "
            "ON CONFLICT (address, day) DO UPDATE SET count = autoresponse_counts.count + 1 "
            f"WHERE autoresponse_counts.count < CASE excluded.address {caps} ELSE {mark} END "
            "RETURNING address")


_COUNTS = cast(Table, AutoResponseCount.__table__)
_GIVE_BACK = (update(_COUNTS)
              .where(_COUNTS.c.address == bindparam("key"),
                     _COUNTS.c.day == bindparam("period"))
              .values(count=_COUNTS.c.count - 1))
_DROP_EMPTY = delete(_COUNTS).where(_COUNTS.c.address == bindparam("key"),
                                    _COUNTS.c.day == bindparam("period"), _COUNTS.c.count <= 0)


def take_daily_slot(session: Session, address: str, cap: int) -> bool:
    """Count one auto-response to `address` today, unless `cap` is reached."""
    return take_slot(session, address.lower(), cap, utcnow().strftime("%Y-%m-%d"))


def take_slot(session: Session, key: str, cap: int, period: str) -> bool:
    """Count one under `key` in `period`, unless `cap` is reached.

    Atomic on every backend, so daemons sharing a database never exceed the cap together.
    SQLite and PostgreSQL: one upsert whose DO UPDATE only counts below the cap (a row
    changed or nothing); issue 20: the UPDATE-then-INSERT below cost two statements for
    every first count (a new sender, a new ticket), three counts per auto-response.
    MariaDB's ON DUPLICATE KEY UPDATE cannot tell "inserted" from "left at the cap"
    through its row count, so there a conditional UPDATE comes first; the first of the
    period is an INSERT that ignores a conflict, and a concurrent first INSERT falls back
    to the UPDATE."""
    if cap <= 0:
        return False
    address = key[:191]
    day = period
    upsert = _upsert(session.get_bind().dialect.name)
    if upsert is not None:  # a Core statement on a Table: past the ORM's layer (issue 20)
        return rowcount(execute_core(session, upsert, {"address": address, "day": day,
                                                        "count": 1, "cap": cap})) == 1
    for _ in range(2):
        bumped = rowcount(session.execute(
            update(AutoResponseCount)
            .where(AutoResponseCount.address == address, AutoResponseCount.day == day,
                   AutoResponseCount.count < cap)
            .values(count=AutoResponseCount.count + 1)
            .execution_options(synchronize_session=False)
        ))
        if bumped == 1:
            return True
        if insert_ignore(session, AutoResponseCount, address=address, day=day, count=1):
            return True
        # the day's row exists (perhaps another daemon's, just now): count against it
    return False


@functools.cache
def _upsert(dialect: str) -> Any:
    """INSERT the first count, or add one to the row below the cap: built once (cached
    compilation), None where the row count cannot say which happened (MariaDB)."""
    table = cast(Table, AutoResponseCount.__table__)
    below = table.c.count < bindparam("cap")
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        upsert: Any = sqlite_insert(table).on_conflict_do_update(
            index_elements=["address", "day"], set_={"count": table.c.count + 1}, where=below)
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        upsert = pg_insert(table).on_conflict_do_update(
            index_elements=["address", "day"], set_={"count": table.c.count + 1}, where=below)
    else:
        return None
    # An INSERT's row count is kept only when asked for (psycopg's is -1 otherwise).
    return upsert.execution_options(preserve_rowcount=True)
