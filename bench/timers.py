"""Timers on SQLite (issue 14): how fast due times are worked off, and what a million stored
future due times cost ingest.

1. `due`: N pending tickets (half `pending auto-close`, half `pending reminder`, whose
   reminders each queue a notification) all fall due within one minute; the scheduler's
   batches (`run_due`) work them off. Printed: seconds (wall and this process's CPU) for
   all N and the rate, checked: every ticket changed, every mail queued, no due row left,
   the ticket_counts rollup without drift. The target (100,000 in under 60 s) is judged
   only at 100,000 or more (the default); a smaller N prints what it projects, no verdict.
   The yardstick, in the same run before and after: the row-by-row path (as before the
   bulk path) on 5,000 due times; the ratio, times its quiet figure, is the projection.
2. `ingest`: mails ingested in process (half new tickets in a queue with an SLA, so each
   writes two due times (first response, solution); half follow-ups by the same customer,
   which start the update clock) into two copies of a database of 1,000,000
   tickets, one without and one with 1,000,000 future due times stored. Rounds alternate
   between them (A B, B A, A B, ...) and each measures the CPU time of this process per
   mail (`time.process_time`: SQLite runs in process, and a busy machine's waits do not
   count) beside the wall time; the verdict is on the medians. The statements of the
   ingest path that touch `timers` are printed with SQLite's EXPLAIN QUERY PLAN.

    python bench/timers.py [--due N] [--tickets N] [--mails N] [--rounds N] [--only due|ingest]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import event, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from maildesk.app import ensure_secret, open_app  # noqa: E402
from maildesk.config import load_config  # noqa: E402
from maildesk.intake.message import Envelope  # noqa: E402
from maildesk.runtime import RUNTIME_KEY, Runtime  # noqa: E402
from maildesk.store.migrate import upgrade  # noqa: E402
from maildesk.store.models import Ticket, Timer  # noqa: E402
from maildesk.store.rollup import drift, rebuild  # noqa: E402
from maildesk.timers.actions import fire  # noqa: E402
from maildesk.timers.run import BATCH, next_due, run_due  # noqa: E402

TARGET = 100_000  # due times worked off in under 60 s (issue 14)
QUIET_YARDSTICK = 1_069  # due/s of the row-by-row path, quiet machine (README-helpers)

CONFIG = """\
instance:
  name: Bench
  system_id: 10
  secret_file: ./var/secret
  autoresponse_daily_cap: 1000000
  autoresponse_hourly_cap: 1000000  # the desk-wide flood guard would stop them mid-run
database: sqlite:///./var/maildesk.db
storage:
  path: ./var
outbound:
  relay: 127.0.0.1:2
  bounce_address: bounces@example.com
queues:
  - name: Support
    address: support@example.com
    group: support
    sla: {first_response: 4h, update: 8h, solution: 2d, warn_before: 30m}
groups:
  support: {Support: [read, note, reply, move, priority, lock, owner, close, merge]}
agents:
  - address: alice@example.com
    name: Alice
    groups: [support]
"""


def _desk(folder: Path):  # noqa: ANN202
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "maildesk.yaml"
    path.write_text(CONFIG)
    config = load_config(path)
    ensure_secret(config.instance.secret_file)
    app = open_app(config)
    app.db.create()
    upgrade(app.db)
    return app, config.storage.path / "maildesk.db"


def _bulk(db: Path, sql_rows: list[tuple[str, object]]) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    for sql, rows in sql_rows:
        conn.executemany(sql, rows)  # type: ignore[arg-type]
    conn.execute("COMMIT")
    conn.close()


def _stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def fill_tickets(db: Path, n: int, state: str = "open", pending: datetime | None = None,
                 first: int = 1) -> None:
    now = _stamp(datetime.now(UTC).replace(tzinfo=None))
    day = datetime.now(UTC).strftime("%Y%m%d")
    rows = ((i, f"{day}10{i:07d}", f"ticket {i}", "Support", state, 3, 0,
             f"c{i}@example.org", "[]", "[]", _stamp(pending) if pending else None, now, now, 1)
            for i in range(first, first + n))
    _bulk(db, [(
        "INSERT INTO tickets (id, number, title, queue, state, priority, locked, customer, "
        "cc_json, tags_json, pending_until, created_at, updated_at, version) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)])
    conn = sqlite3.connect(db)
    conn.execute("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)",
                 (f"ticket:{day}", first + n))
    conn.commit()
    conn.close()


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _pending_desk(folder: Path, n: int):  # noqa: ANN202
    """A desk with n pending tickets (half auto-close, half reminders) due in the last
    minute."""
    app, db = _desk(folder)
    now = datetime.now(UTC).replace(tzinfo=None)
    fill_tickets(db, n // 2, "pending auto-close", now)
    fill_tickets(db, n - n // 2, "pending reminder", now, first=n // 2 + 1)
    rng = random.Random(1)
    timers = ((i, "auto-close" if i <= n // 2 else "reminder", "Support",
               _stamp(now - timedelta(seconds=rng.uniform(0, 60))), 0, _stamp(now))
              for i in range(1, n + 1))
    _bulk(db, [("INSERT INTO timers (ticket_id, kind, queue, due_at, stage, created_at) "
                "VALUES (?,?,?,?,?,?)", timers)])
    with app.db.transaction() as session:
        rebuild(session)  # the rows above bypassed the ORM's rollup hook
    return app, db


def _row_by_row(session: Session, rt: Runtime, now: datetime, limit: int) -> Counter[str]:
    """The yardstick: a batch as run.py ran it before the bulk path (ORM rows, `fire` one
    by one; the path the other kinds still take)."""
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


def yardstick(n: int, batch: int) -> tuple[float, float]:
    """(wall, CPU) due times per second of the row-by-row path on n due times."""
    with tempfile.TemporaryDirectory(prefix="bench-timers-") as tmp:
        app, _db = _pending_desk(Path(tmp), n)
        started, cpu = time.perf_counter(), time.process_time()
        total = 0
        now = datetime.now(UTC).replace(tzinfo=None)  # every due time is behind it
        while True:
            done = sum(app.db.run(lambda s: _row_by_row(s, app.runtime, now, batch)).values())
            total += done
            if done < batch:
                break
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        app.close()
        assert total == n, total
        return n / seconds, n / cpu


def bench_due(n: int, batch: int, stick: int) -> None:
    sticks = [yardstick(stick, batch)] if stick else []
    with tempfile.TemporaryDirectory(prefix="bench-timers-") as tmp:
        app, db = _pending_desk(Path(tmp), n)
        print(f"due: load {_load()} at the start")
        started, cpu = time.perf_counter(), time.process_time()
        counts: Counter[str] = Counter()
        steps: list[tuple[int, float]] = []  # (due times, CPU seconds) per batch
        while True:
            before = time.process_time()
            done = run_due(app, limit=batch)
            steps.append((sum(done.values()), time.process_time() - before))
            counts.update(done)
            if not done:
                break
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        tenth = max(1, len(steps) // 10)
        first, last = steps[:tenth], steps[-tenth - 1:-1] or steps[:tenth]
        print(f"due: CPU per 1,000 due times in the first tenth of the batches "
              f"{1000 * sum(c for _, c in first) / max(1, sum(n for n, _ in first)):.2f} s, "
              f"in the last {1000 * sum(c for _, c in last) / max(1, sum(n for n, _ in last)):.2f}"
              f" s (the rate as the tables grow)")
        with app.db.reading() as session:
            drifted = drift(session)
        app.close()
        conn = sqlite3.connect(db)
        left = conn.execute("SELECT count(*) FROM timers WHERE kind IN ('reminder', "
                            "'auto-close')").fetchone()[0]
        clocks = conn.execute("SELECT count(*) FROM timers").fetchone()[0] - left
        closed = conn.execute("SELECT count(*) FROM tickets WHERE state = 'closed successful'"
                              ).fetchone()[0]
        opened = conn.execute("SELECT count(*) FROM tickets WHERE state = 'open'").fetchone()[0]
        mails = conn.execute("SELECT count(*) FROM outbox WHERE kind = 'notification' "
                             "AND state = 'queued'").fetchone()[0]
        conn.close()
        total = sum(counts.values())
        right = (closed == n // 2 and opened == mails == n - n // 2 and left == 0
                 and not drifted and total == n)
        print(f"due: {total:,} due times ({dict(counts)}) worked off in {seconds:.1f} s "
              f"= {total / seconds:,.0f}/s (CPU {cpu:.1f} s, batches of {batch}); "
              f"{closed:,} closed, {opened:,} open again with {mails:,} reminder mails "
              f"queued, {left} pending due rows left ({clocks:,} SLA clock rows armed on the "
              f"reopened tickets), rollup drift {drifted or 'none'}; "
              f"load {_load()} at the end")
        if not right:
            print("due: WRONG: not every due time did its work exactly once")
        elif n >= TARGET:
            print(f"due: target: {TARGET:,} due in under 60 s -> "
                  f"{'met' if seconds * TARGET / n < 60 else 'MISSED'}")
        else:
            print(f"due: {n:,} is below the target's size (run without --due for {TARGET:,}):"
                  f" at this rate {TARGET:,} would take ~{seconds * TARGET / n:.0f} s; "
                  f"no verdict")
    if not stick:
        return
    sticks.append(yardstick(stick, batch))
    wall = statistics.mean(w for w, _ in sticks)
    per_cpu = statistics.mean(c for _, c in sticks)
    ratio = (total / seconds) / wall
    print(f"due: yardstick, the row-by-row path on {stick:,} due times before and after: "
          f"{wall:,.0f}/s wall, {per_cpu:,.0f}/s of CPU; the bulk path = {ratio:.1f}x its wall "
          f"rate, {(total / cpu) / per_cpu:.1f}x its CPU rate. At the yardstick's quiet rate "
          f"({QUIET_YARDSTICK:,}/s, 5,000 due, load 0.5-1.2, 2026-12-01) that is "
          f"~{QUIET_YARDSTICK * ratio:,.0f}/s: {TARGET:,} in "
          f"~{TARGET / (QUIET_YARDSTICK * ratio):.0f} s")


def _mail(i: int, reply_to: str | None, who: int | None = None) -> bytes:
    """Mail `i`; a follow-up comes from the customer of the mail it answers (`who`): from
    anyone else it would open a ticket of its own."""
    who = i if who is None else who
    head = [f"From: Customer {who} <cust{who}@example.org>", "To: support@example.com",
            f"Subject: question {who}",
            f"Message-ID: <bench-{i}-{random.random()}@example.org>",
            "Date: Mon, 30 Nov 2026 10:00:00 +0000"]
    if reply_to:
        head += [f"In-Reply-To: <{reply_to}>", f"References: <{reply_to}>"]
    body = "Hello,\n" + "the printer is on fire. " * 60 + "\n"
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


def _ingest_round(app, mails: int, seed: int) -> tuple[float, float]:  # noqa: ANN001
    """(CPU ms, wall ms) per mail of `mails` ingested in this process."""
    envelope = Envelope(sender="cust@example.org", recipients=("support@example.com",))
    ids: list[str] = []
    raws = []
    for i in range(mails):  # built before the clocks start
        reply = ids[-1] if ids and i % 2 else None
        raws.append((_mail(seed * 100000 + i, reply, seed * 100000 + i - 1 if reply else None),
                     reply))
        if reply is None:
            ids.append(raws[-1][0].split(b"Message-ID: <", 1)[1].split(b">", 1)[0].decode())
    started, cpu = time.perf_counter(), time.process_time()
    for raw, _reply in raws:
        outcome = app.ingest(raw, envelope)
        assert outcome.code == 250, outcome
    return ((time.process_time() - cpu) * 1000 / mails,
            (time.perf_counter() - started) * 1000 / mails)


def _watch(app) -> list[tuple[str, object]]:  # noqa: ANN001
    """Every statement on `timers` the app runs from now on (with its parameters)."""
    seen: list[tuple[str, object]] = []

    def look(_conn, _cursor, statement, parameters, _context, _many) -> None:  # noqa: ANN001
        if "timers" in statement:
            seen.append((statement, parameters))

    for engine in {app.db.engine, app.db.read_engine}:  # writes, and reads (next_due)
        event.listen(engine, "before_cursor_execute", look)
    return seen


def _plans(db: Path, statements: list[tuple[str, object]]) -> list[str]:
    """EXPLAIN QUERY PLAN of each distinct statement shape (an INSERT has none to show)."""
    conn = sqlite3.connect(db)
    out: list[str] = []
    shapes: set[str] = set()
    for statement, parameters in statements:
        shape = " ".join(statement.split())
        if shape in shapes:
            continue
        shapes.add(shape)
        head = shape if len(shape) < 160 else shape[:157] + "..."
        if shape.upper().startswith("INSERT"):
            out.append(f"{head}\n      (an INSERT: the indexes of timers are updated)")
            continue
        args = parameters if isinstance(parameters, tuple | list | dict) else ()
        plan = conn.execute("EXPLAIN QUERY PLAN " + statement, args).fetchall()
        out.append(f"{head}\n      " + "; ".join(str(row[-1]) for row in plan))
    conn.close()
    return out


def _fill_timers(db: Path, tickets: int) -> None:
    future = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=30)
    rng = random.Random(2)
    rows = ((i, "solution", "Support", _stamp(future + timedelta(
        seconds=rng.uniform(0, 86400 * 30))), 0, _stamp(future)) for i in range(1, tickets + 1))
    _bulk(db, [("INSERT INTO timers (ticket_id, kind, queue, due_at, stage, created_at) "
                "VALUES (?,?,?,?,?,?)", rows)])


def bench_ingest(tickets: int, mails: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-timers-") as tmp:
        folders = {"without": Path(tmp) / "without", "with": Path(tmp) / "with"}
        app, db = _desk(folders["without"])
        app.close()
        started = time.perf_counter()
        fill_tickets(db, tickets)
        app, other = _desk(folders["with"])
        app.close()
        shutil.copyfile(db, other)  # the same tickets; then the due times in one copy only
        _fill_timers(other, tickets)
        print(f"ingest: {tickets:,} tickets in two copies, {tickets:,} future due times in "
              f"one, filled in {time.perf_counter() - started:.0f} s; load {_load()}")
        cpu: dict[str, list[float]] = {"without": [], "with": []}
        wall: dict[str, list[float]] = {"without": [], "with": []}
        watched: list[tuple[str, object]] = []
        for n in range(rounds):
            for label in (("without", "with") if n % 2 == 0 else ("with", "without")):
                app, _ = _desk(folders[label])
                _ingest_round(app, 20, 1000 + n)  # warm: templates, caches, the file
                if label == "with" and not watched:
                    watched = _watch(app)
                c, w = _ingest_round(app, mails, n + 1)
                app.close()
                cpu[label].append(c)
                wall[label].append(w)
                print(f"ingest: round {n + 1} {label:>7} due times: CPU {c:.2f} ms/mail, "
                      f"wall {w:.2f} ms/mail; load {_load()}")
        stored = sqlite3.connect(other).execute("SELECT count(*) FROM timers").fetchone()[0]
        without, with_ = statistics.median(cpu["without"]), statistics.median(cpu["with"])
        ratio = with_ / without
        pairs = statistics.median(w / o for w, o in zip(cpu["with"], cpu["without"],
                                                        strict=True))
        print(f"ingest: median CPU per mail {with_:.2f} ms with {stored:,} due times stored vs "
              f"{without:.2f} ms without = {ratio:.3f}x (wall medians "
              f"{statistics.median(wall['with']):.2f} vs "
              f"{statistics.median(wall['without']):.2f} ms; median of the rounds' own "
              f"ratios {pairs:.3f}x); target: within 5% -> "
              f"{'met' if ratio <= 1.05 else 'MISSED'}")
        first = list(watched)
        print(f"ingest: {len(first)} statements on timers in the first measured round "
              f"({len(first) / mails:.1f} per mail); their plans on {stored:,} rows:")
        for line in _plans(other, first):
            print(f"  {line}")
        app, _ = _desk(folders["with"])  # what a daemon's scheduler runs when a mail wakes it
        woken = _watch(app)
        run_due(app)
        next_due(app.db)
        app.close()
        print("ingest: the scheduler woken by a mail (claim what is due, the next due time):")
        for line in _plans(other, woken):
            print(f"  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--due", type=int, default=TARGET)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--yardstick", type=int, default=5_000,
                        help="due times for the row-by-row yardstick run before and after "
                             "(0: none)")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--mails", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=["due", "ingest"])
    args = parser.parse_args()
    if args.only in (None, "due"):
        bench_due(args.due, args.batch, args.yardstick)
    if args.only in (None, "ingest"):
        bench_ingest(args.tickets, args.mails, args.rounds)


if __name__ == "__main__":
    main()
