"""Ingest against a full database: the same SMTP load with 1,000 and with 1,000,000 tickets
already stored. Threading (Message-ID index, subject tag -> ticket number), dedupe
(raw_sha256) and customer look-ups must stay indexed, so the rate should barely move.

The fill is one bulk transaction of plain sqlite3 `executemany` (tickets, their first
article, the Message-ID index rows, customers, the day's ticket counter), a minute or two
for a million. A third of the replies in the run go to a random pre-filled ticket, so the
look-ups hit cold parts of the big indexes, not just the rows the run itself made.

    python bench/scale.py                      # 1,000 and 1,000,000 tickets, 15 s each
    python bench/scale.py --quick              # 1,000 and 100,000, 3 s each
    python bench/scale.py --rounds 5           # rounds of every size in turn (default 3)
    python bench/scale.py --tickets 1000,200000 --seconds 10
    python bench/scale.py --profile DIR        # also: py-spy of each run, side by side
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    CLIENT_CPU,
    can_pin,
    cpu_seconds,
    db_path,
    free_port,
    fsync_us,
    machine,
    make_desk,
    pin_self,
    run_load,
    sources,
    start_maildesk,
    start_profile,
    summarize_profile,
)

SYSTEM_ID = 10  # as in common.CONFIG


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def insert(conn: sqlite3.Connection, table: str, rows: Iterator[dict[str, object]]) -> None:
    """executemany with the table's real columns: a schema change that adds a NOT NULL
    column fails loudly here instead of filling a different shape."""
    first = next(rows)
    cols = [c for c in columns(conn, table) if c in first]
    missing = set(first) - set(cols)
    if missing:
        raise SystemExit(f"{table} has no column(s) {sorted(missing)}: update bench/scale.py")
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    conn.execute(sql, [first[c] for c in cols])
    conn.executemany(sql, ([row[c] for c in cols] for row in rows))


def fill(db: Path, tickets: int) -> float:
    """`tickets` tickets with one customer article each; returns the seconds taken."""
    started = time.perf_counter()
    now = datetime.now(UTC).replace(tzinfo=None)
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    day = now.strftime("%Y%m%d")
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")  # one big transaction: no WAL to replay
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-400000")
    conn.execute("BEGIN")
    insert(conn, "tickets", ({
        "id": i, "number": f"{day}{SYSTEM_ID:02d}{i:06d}", "title": f"Filled ticket {i}",
        "queue": "Support", "state": "open" if i % 3 else "closed successful",
        "priority": 3, "owner": None, "locked": 0, "customer": f"fill{i}@example.org",
        "customer_id": None, "cc_json": "[]", "tags_json": "[]", "language": None,
        "created_at": stamp, "updated_at": stamp, "version": 1,
    } for i in range(1, tickets + 1)))
    insert(conn, "articles", ({
        "id": i, "ticket_id": i, "message_id": f"fill-{i}@bench.example",
        "from_addr": f'"Filled {i}" <fill{i}@example.org>', "to_json": '["support@example.com"]',
        "cc_json": "[]", "subject": f"Filled ticket {i}", "sender_type": "customer",
        "visibility": "public", "kind": "mail", "body": "Hello,\nthe printer is on fire.\n",
        "raw_sha256": hashlib.sha256(b"fill%d" % i).hexdigest(),
        "raw_key": hashlib.sha256(b"fill%d" % i).hexdigest(), "raw_size": 2000,
        "envelope_json": "{}", "notes_json": "[]", "verified": 1, "created_at": stamp,
    } for i in range(1, tickets + 1)))
    insert(conn, "message_ids", ({
        "message_id": f"fill-{i}@bench.example", "ticket_id": i, "direction": "in",
        "outbox_id": None, "created_at": stamp,
    } for i in range(1, tickets + 1)))
    insert(conn, "customers", ({
        "address": f"fill{i}@example.org", "name": f"Filled {i}", "created_at": stamp,
        "updated_at": stamp, "company_admin": 0, "failed_logins": 0, "registered": 0,
    } for i in range(1, tickets + 1)))
    conn.execute("INSERT INTO counters (name, value) VALUES (?, ?)", (f"ticket:{day}", tickets))
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")  # as the daemon runs it
    conn.close()
    # Written with synchronous=OFF: flushed here, so that no measured cell runs beside the
    # writeback of a gigabyte (the medians were the same without it, bench/README).
    fd = os.open(db, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - started


def old_ticket_reply(tickets: int, seed: int) -> Callable[[int], tuple[str, str]]:
    rng = random.Random(seed)

    def pick(_n: int) -> tuple[str, str]:
        i = rng.randint(1, tickets)
        return f"fill-{i}@bench.example", f"fill{i}@example.org"

    return pick


class Desk:
    """One size's desk: filled, its daemon started and warmed once, measured in rounds."""

    def __init__(self, tickets: int, conc: int, pin: bool, folder: Path) -> None:
        self.tickets, self.conc = tickets, conc
        config = make_desk(folder, free_port())
        self.fill_s = fill(db_path(config), tickets)
        self.db_mb = db_path(config).stat().st_size / 2**20
        self.server = start_maildesk(config, pin=pin)
        run_load(self.server.port, sources(conc, 2000, f"w{tickets}",
                                           extra_reply=old_ticket_reply(tickets, 1)),
                 seconds=15.0, messages=4 * conc + 40)

    def measure(self, seconds: float, round_: int,
                profile: Path | None = None) -> dict[str, float]:
        spy = None
        if profile is not None:
            spy = start_profile(self.server.pid,
                                profile / f"scale-{self.tickets}-{round_}.folded", seconds)
        cpu0 = cpu_seconds(self.server.pid)
        load = run_load(self.server.port,
                        sources(self.conc, 2000, f"s{self.tickets}r{round_}",
                                extra_reply=old_ticket_reply(self.tickets, 2 + round_)),
                        seconds=seconds)
        cpu = cpu_seconds(self.server.pid) - cpu0
        if spy is not None:
            spy.wait(60)
        return {"rate": load.rate, "p50": load.ms(50), "p99": load.ms(99),
                "accepted": load.accepted, "bad": load.tempfail + load.rejected + load.errors,
                "cpu_us": cpu / max(1, load.accepted) * 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tickets", default="1000,1000000", help="comma list of fill sizes")
    ap.add_argument("--seconds", type=float, default=15.0, help="measured time per size")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="1,000 and 100,000 tickets, 3 s")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds, each measuring every size in turn (median of the ratios)")
    ap.add_argument("--profile", type=Path, help="folder: py-spy each size's run (wall time)")
    args = ap.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    sizes = [1000, 100_000] if args.quick else [int(x) for x in args.tickets.split(",")]
    seconds = 3.0 if args.quick else args.seconds
    pin = not args.no_pin and can_pin()
    if pin:
        pin_self(CLIENT_CPU)
    print(f"# scale: {machine()} pinned={pin} seconds={seconds} conc={args.concurrency} "
          f"fsync(2 KB)={fsync_us(Path(tempfile.gettempdir())):.0f}us; 2 KB mails, half "
          "replies (a third of them to a random pre-filled ticket)")
    print("| tickets before | round | fill s | db MiB | msgs/s | p50 ms | p99 ms | accepted "
          "| non-2xx | server CPU us/msg | vs smallest |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    ratios: dict[int, list[float]] = {n: [] for n in sizes}
    with tempfile.TemporaryDirectory(prefix="maildesk-scale-") as tmp:
        desks = []
        try:
            for n in sizes:
                desks.append(Desk(n, args.concurrency, pin, Path(tmp) / f"desk{n}"))
            for round_ in range(args.rounds):
                base = None
                for desk in desks:
                    r = desk.measure(seconds, round_, args.profile)
                    base = base or r["rate"]
                    ratios[desk.tickets].append(r["rate"] / base)
                    print(f"| {desk.tickets:,} | {round_ + 1} | {desk.fill_s:.1f} "
                          f"| {desk.db_mb:.0f} | {r['rate']:.0f} | {r['p50']:.1f} "
                          f"| {r['p99']:.1f} | {r['accepted']:.0f} | {r['bad']:.0f} "
                          f"| {r['cpu_us']:.0f} | {r['rate'] / base:.0%} |", flush=True)
        finally:
            for desk in desks:
                desk.server.stop()
    largest = ratios[sizes[-1]]
    print(f"\ntarget: the largest at >= 90% of the smallest's rate: {sizes[-1]:,} tickets at "
          + ", ".join(f"{x:.0%}" for x in largest)
          + f" of {sizes[0]:,}'s rate in its round, median {statistics.median(largest):.0%} "
          f"({'met' if statistics.median(largest) >= 0.9 else 'MISSED'})")
    for n in sizes if args.profile else []:
        for round_ in range(args.rounds):
            folded = args.profile / f"scale-{n}-{round_}.folded"
            if folded.exists():
                print(f"\n# {n:,} tickets, round {round_ + 1}: where the wall time goes "
                      f"({folded})")
                print(summarize_profile(folded, top=15))


if __name__ == "__main__":
    main()
