"""Ingest throughput by backend, in one run: SQLite with one daemon, PostgreSQL with one and
with two daemons. Real `maildesk serve` processes fed over SMTP by parallel clients; a mail
counts when the daemon answered 250 (it is then committed: the database is up, nothing is
spooled). Auto-responses and notifications go to a recording sink relay as in production.

PostgreSQL runs twice more with each daemon held to `--share` of a core (`cpushare.py`): on
a machine of few cores that also runs PostgreSQL and the clients, the free runs' "two
daemons / one" is bounded by the cores, which each run's CPU figures show (issue 20).

    python bench/databases.py [--mails 300] [--clients 8] [--pg URL] [--share 0.4]
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpushare import available, bound, busy_ticks, confined, process_ticks  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from maildesk.store.db import Database  # noqa: E402
from maildesk.store.models import Article  # noqa: E402
from tests.conftest import simple_mail  # noqa: E402
from tests.db.serving import Served, Sink, send, serve_desks  # noqa: E402


@dataclass
class Result:
    rate: float  # mails a second
    daemon_ms: float  # CPU of the daemons a mail, ms
    other_ms: float  # CPU of everything else on the machine a mail (PostgreSQL, clients)


def run(label: str, database: str, daemons: int, mails: int, clients: int, sink: Sink,
        share: float = 0.0) -> Result:
    with tempfile.TemporaryDirectory(prefix="maildesk-bench-") as tmp:
        nodes = serve_desks(Path(tmp), database, daemons, sink.port,
                            articles="filesystem" if database.startswith("sqlite") else "database")
        served = [Served(desk, port) for desk, port in nodes]
        ports = [port for _, port in nodes]
        pids = [d.proc.pid for d in served]
        batch = [(f"b{i}@example.org",
                  simple_mail(subject=f"bench {i}", sender=f"b{i}@example.org"))
                 for i in range(mails)]
        try:  # stopped inside the cgroups' block (an empty cgroup is removed), and here
            with confined(pids, share) if share else nullcontext():  # if it failed to start
                try:
                    send(ports[0], simple_mail(subject="warm-up"), "warm@example.org")
                    machine, mine = busy_ticks(), sum(process_ticks(p) for p in pids)
                    started = time.perf_counter()
                    with ThreadPoolExecutor(clients) as pool:
                        codes = list(pool.map(
                            lambda ix: send(ports[ix[0] % daemons], ix[1][1], ix[1][0]),
                            enumerate(batch)))
                    elapsed = time.perf_counter() - started
                    machine = busy_ticks() - machine
                    mine = sum(process_ticks(p) for p in pids) - mine
                finally:
                    for d in served:
                        d.stop()
        finally:
            for d in served:  # stop() twice is harmless
                d.stop()
        db = Database(nodes[0][0].config.database)
        with db.reading() as s:
            stored = s.scalar(select(func.count()).select_from(Article)) or 0
        db.dispose()
        spooled = sum(1 for d, _ in nodes for _ in d.app().inbound.ids())
    ok = codes.count(250)
    rate = ok / elapsed
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    daemon_ms, other_ms = mine * tick_ms / max(ok, 1), (machine - mine) * tick_ms / max(ok, 1)
    held = f", {share:g} core each" if share else ""
    print(f"{label + held:<32} {daemons} daemon(s)  {ok:>4}/{mails} acked  {stored - 1:>4} "
          f"stored  {spooled} spooled  {elapsed:6.2f} s  {rate:7.1f} mails/s  "
          f"CPU a mail: daemons {daemon_ms:4.1f} ms, the rest {other_ms:4.1f} ms "
          f"(cores {machine * tick_ms / 1000 / elapsed:.2f} of {os.cpu_count()} busy)",
          flush=True)
    return Result(rate, daemon_ms, other_ms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--share", type=float, default=0.4,
                        help="the core each daemon gets in the held runs (0: none)")
    args = parser.parse_args()
    sink = Sink()
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    base = args.pg.rsplit("/", 1)[0]
    names: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="maildesk-bench-sqlite-") as tmp:
            run("SQLite (WAL, FULL sync)", f"sqlite:///{tmp}/bench.db", 1, args.mails,
                args.clients, sink)
        why_not = available() if args.share else "--share 0"
        shares = [0.0] + ([args.share] if why_not is None else [])
        results: dict[tuple[float, int], Result] = {}
        for share in shares:
            for daemons in (1, 2):
                name = f"maildesk_bench_{secrets.token_hex(4)}"
                with admin.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                names.append(name)
                results[(share, daemons)] = run("PostgreSQL", f"{base}/{name}", daemons,
                                                args.mails, args.clients, sink, share)
        one, two = results[(0.0, 1)], results[(0.0, 2)]
        print(f"PostgreSQL two daemons / one: {two.rate / one.rate:.2f}x; the machine's "
              f"{os.cpu_count()} cores allow at most "
              f"{bound(os.cpu_count() or 1, one.rate, two.daemon_ms + two.other_ms):.2f}x "
              "at the CPU a mail of the two-daemon run (cpushare.bound)")
        if why_not is None:
            one, two = results[(args.share, 1)], results[(args.share, 2)]
            print(f"PostgreSQL two daemons / one, {args.share:g} core each: "
                  f"{two.rate / one.rate:.2f}x")
        else:
            print(f"PostgreSQL with a share of a core each: not run ({why_not})")
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        sink.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
