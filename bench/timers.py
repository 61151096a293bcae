"""Timers on SQLite (issue 14): how fast due times are worked off, and what a million stored
future due times cost ingest.

1. `due`: N pending tickets (half `pending auto-close`, half `pending reminder`, whose
   reminders each render and queue a notification) all fall due within one minute; the
   scheduler's batches (`run_due`) work them off. Printed: seconds for all N (target: under
   60 for 100,000) and the rate.
2. `ingest`: mails ingested in process (half new tickets in a queue with an SLA, so each
   writes three due times; half follow-ups) on a database of 1,000,000 tickets, without
   and with 1,000,000 future due times stored; rounds alternate (without, with, without,
   with) so drift on a shared machine hits both. Printed: the ratio (target: within 5%).

    python bench/timers.py [--due N] [--tickets N] [--mails N] [--only due|ingest]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from maildesk.app import ensure_secret, open_app  # noqa: E402
from maildesk.config import load_config  # noqa: E402
from maildesk.intake.message import Envelope  # noqa: E402
from maildesk.store.migrate import upgrade  # noqa: E402
from maildesk.timers.run import run_due  # noqa: E402

CONFIG = """\
instance:
  name: Bench
  system_id: 10
  secret_file: ./var/secret
  autoresponse_daily_cap: 1000000
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


def bench_due(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-timers-") as tmp:
        app, db = _desk(Path(tmp))
        now = datetime.now(UTC).replace(tzinfo=None)
        fill_tickets(db, n // 2, "pending auto-close", now)
        fill_tickets(db, n - n // 2, "pending reminder", now, first=n // 2 + 1)
        rng = random.Random(1)
        timers = ((i, "auto-close" if i <= n // 2 else "reminder", "Support",
                   _stamp(now - timedelta(seconds=rng.uniform(0, 60))), 0, _stamp(now))
                  for i in range(1, n + 1))
        _bulk(db, [("INSERT INTO timers (ticket_id, kind, queue, due_at, stage, created_at) "
                    "VALUES (?,?,?,?,?,?)", timers)])
        started = time.perf_counter()
        done = 0
        counts: dict[str, int] = {}
        while True:
            batch = run_due(app)
            for key, value in batch.items():
                counts[key] = counts.get(key, 0) + value
            done += sum(batch.values())
            if not batch:
                break
        seconds = time.perf_counter() - started
        conn = sqlite3.connect(db)
        left = conn.execute("SELECT count(*) FROM timers WHERE kind IN ('reminder', 'auto-close')"
                            ).fetchone()[0]
        closed = conn.execute("SELECT count(*) FROM tickets WHERE state = 'closed successful'"
                              ).fetchone()[0]
        mails = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        conn.close()
        app.close()
        print(f"due: {done:,} due times ({counts}) worked off in {seconds:.1f} s "
              f"= {done / seconds:,.0f}/s; {closed:,} closed, {mails:,} reminder mails "
              f"queued, {left} of them left; target: {n:,} in under 60 s -> "
              f"{'met' if seconds < 60 and left == 0 else 'MISSED'}")


def _mail(i: int, reply_to: str | None) -> bytes:
    head = [f"From: Customer {i} <cust{i}@example.org>", "To: support@example.com",
            f"Subject: question {i}", f"Message-ID: <bench-{i}-{random.random()}@example.org>",
            "Date: Mon, 30 Nov 2026 10:00:00 +0000"]
    if reply_to:
        head += [f"In-Reply-To: <{reply_to}>", f"References: <{reply_to}>"]
    body = "Hello,\n" + "the printer is on fire. " * 60 + "\n"
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


def _ingest_round(app, mails: int, seed: int) -> float:  # noqa: ANN001
    envelope = Envelope(sender="cust@example.org", recipients=("support@example.com",))
    ids: list[str] = []
    started = time.perf_counter()
    for i in range(mails):
        reply = ids[-1] if ids and i % 2 else None
        raw = _mail(seed * 100000 + i, reply)
        outcome = app.ingest(raw, envelope)
        assert outcome.code == 250, outcome
        if reply is None:
            ids.append(raw.split(b"Message-ID: <", 1)[1].split(b">", 1)[0].decode())
    return mails / (time.perf_counter() - started)


def bench_ingest(tickets: int, mails: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-timers-") as tmp:
        app, db = _desk(Path(tmp))
        started = time.perf_counter()
        fill_tickets(db, tickets)
        future = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=30)
        rng = random.Random(2)

        def add_timers() -> None:
            rows = ((i, "solution", "Support", _stamp(future + timedelta(
                seconds=rng.uniform(0, 86400 * 30))), 0, _stamp(future))
                for i in range(1, tickets + 1))
            _bulk(db, [("INSERT INTO timers (ticket_id, kind, queue, due_at, stage, "
                        "created_at) VALUES (?,?,?,?,?,?)", rows)])

        def drop_timers() -> None:
            _bulk(db, [("DELETE FROM timers WHERE ticket_id <= ?", [(tickets,)])])

        print(f"ingest: {tickets:,} tickets filled in {time.perf_counter() - started:.0f} s")
        _ingest_round(app, 50, 0)  # warm-up
        rates: dict[str, list[float]] = {"without": [], "with": []}
        for n, label in enumerate(("without", "with", "without", "with")):
            if label == "with":
                add_timers()
            app.close()
            app, _ = _desk(Path(tmp))
            rate = _ingest_round(app, mails, n + 1)
            rates[label].append(rate)
            stored = sqlite3.connect(db).execute("SELECT count(*) FROM timers").fetchone()[0]
            print(f"ingest: round {n + 1}, {stored:,} due times stored: {rate:.1f} mails/s")
            if label == "with":
                drop_timers()
        app.close()
        without = sum(rates["without"]) / 2
        with_ = sum(rates["with"]) / 2
        ratio = with_ / without
        print(f"ingest: {with_:.1f} mails/s with {tickets:,} future due times vs "
              f"{without:.1f} without = {ratio:.1%}; target: within 5% -> "
              f"{'met' if ratio >= 0.95 else 'MISSED'}")
        digest = hashlib.sha256(str(rates).encode()).hexdigest()[:8]
        print(f"ingest: rates {rates} ({digest})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--mails", type=int, default=400)
    parser.add_argument("--only", choices=["due", "ingest"])
    args = parser.parse_args()
    if args.only in (None, "due"):
        bench_due(args.due)
    if args.only in (None, "ingest"):
        bench_ingest(args.tickets, args.mails)


if __name__ == "__main__":
    main()
