"""Ingest throughput by backend, in one run: SQLite with one daemon, PostgreSQL with one and
with two daemons. Real `maildesk serve` processes fed over SMTP by parallel clients; a mail
counts when the daemon answered 250 (it is then committed: the database is up, nothing is
spooled). Auto-responses and notifications go to a recording sink relay as in production.

    python bench/databases.py [--mails 300] [--clients 8] [--pg URL]
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from maildesk.store.db import Database  # noqa: E402
from maildesk.store.models import Article  # noqa: E402
from tests.conftest import simple_mail  # noqa: E402
from tests.db.serving import Served, Sink, send, serve_desks  # noqa: E402


def run(label: str, database: str, daemons: int, mails: int, clients: int, sink: Sink) -> float:
    with tempfile.TemporaryDirectory(prefix="maildesk-bench-") as tmp:
        nodes = serve_desks(Path(tmp), database, daemons, sink.port,
                            articles="filesystem" if database.startswith("sqlite") else "database")
        served = [Served(desk, port) for desk, port in nodes]
        ports = [port for _, port in nodes]
        batch = [(f"b{i}@example.org",
                  simple_mail(subject=f"bench {i}", sender=f"b{i}@example.org"))
                 for i in range(mails)]
        try:
            send(ports[0], simple_mail(subject="warm-up"), "warm@example.org")
            started = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                codes = list(pool.map(lambda ix: send(ports[ix[0] % daemons], ix[1][1], ix[1][0]),
                                      enumerate(batch)))
            elapsed = time.perf_counter() - started
        finally:
            for d in served:
                d.stop()
        db = Database(nodes[0][0].config.database)
        with db.reading() as s:
            stored = s.scalar(select(func.count()).select_from(Article)) or 0
        db.dispose()
        spooled = sum(1 for d, _ in nodes for _ in d.app().inbound.ids())
    ok = codes.count(250)
    rate = ok / elapsed
    print(f"{label:<28} {daemons} daemon(s)  {ok:>4}/{mails} acked  {stored - 1:>4} stored  "
          f"{spooled} spooled  {elapsed:6.2f} s  {rate:7.1f} mails/s", flush=True)
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    sink = Sink()
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    base = args.pg.rsplit("/", 1)[0]
    names: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="maildesk-bench-sqlite-") as tmp:
            run("SQLite (WAL, FULL sync)", f"sqlite:///{tmp}/bench.db", 1, args.mails,
                args.clients, sink)
        for daemons in (1, 2):
            name = f"maildesk_bench_{secrets.token_hex(4)}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            names.append(name)
            run("PostgreSQL", f"{base}/{name}", daemons, args.mails, args.clients, sink)
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        sink.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
