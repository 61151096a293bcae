"""Full-text search pages on a filled database of any backend (issue 15's `q` target: a
page of the list with `q` on 1,000,000 tickets, p99 under 100 ms).

The tickets (one article of 40 words each, the same words and seed as bench/api.py) are
bulk-inserted once: COPY on PostgreSQL, multi-row INSERTs on MariaDB and SQLite, the
search index dropped first and made again after (PostgreSQL, MariaDB) with the DDL of
migration 0008_search. A later run finds the database filled and only measures.

Measured in process, one query at a time (the service time, no HTTP): the API's page
(`core.queries.ticket_page`, oldest first, 50 a page) for a rare word (`zebracorn`, 1 in
10,000 tickets), two common words (`printer refund`, ~76%), a common word (`printer`,
~87%), page 1 and the page after it (the cursor); beside them the same pages without `q`
(the yardstick of the same run), and the web list's first page (`core.ticket_list`,
newest first).

    .venv/bin/python bench/search.py --database postgresql [--tickets 1000000] [--repeat 40]
    .venv/bin/python bench/search.py --database mariadb --explain
    .venv/bin/python bench/search.py --database sqlite:///DESK/var/maildesk.db

(DESK: a desk folder that `bench/api.py --folder DESK` filled.)
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import machine, percentile  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from maildesk.store.db import Database  # noqa: E402
from maildesk.store.migrate import upgrade  # noqa: E402

WORDS = ("printer fire invoice refund login password shipping delay broken screen battery "
         "upgrade contract cancel address payment warranty laptop router license").split()
SERVERS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/",
}
NAME = "maildesk_search"
QUERIES = ("zebracorn", "printer refund", "printer")
TICKET_COLUMNS = ("id, number, title, queue, state, priority, locked, customer, cc_json, "
                  "tags_json, created_at, updated_at, version")
ARTICLE_COLUMNS = ("ticket_id, from_addr, to_json, cc_json, subject, sender_type, visibility, "
                   "kind, body, raw_size, envelope_json, notes_json, verified, created_at")


def database_url(name: str) -> str:
    """A URL as given, or the bench's own database on the local server of that name
    (made when missing)."""
    if "://" in name:
        return name
    admin = create_engine(SERVERS[name], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if name == "postgresql":
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                {"n": NAME}).first():
                conn.execute(text(f'CREATE DATABASE "{NAME}"'))
        else:
            conn.execute(text(f"CREATE DATABASE IF NOT EXISTS {NAME} "
                              "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
    admin.dispose()
    return SERVERS[name] + NAME


def rows(first: int, count: int) -> Iterator[tuple[tuple[object, ...], tuple[object, ...]]]:
    """(ticket, article) rows for tickets first+1 .. first+count, as bench/api.py fills."""
    rng = random.Random(15)
    now = "2026-11-30 10:00:00"
    for i in range(count):
        tid = first + 1 + i
        body = " ".join(rng.choice(WORDS) for _ in range(40))
        if i % 10_000 == 0:
            body += " zebracorn"
        yield ((tid, f"B{tid}", f"case {i}", "Support", "open", 3, False,
                f"c{i % 5000}@example.org", "[]", "[]", now, now, 1),
               (tid, "", "[]", "[]", f"case {i}", "customer", "public", "mail", body, 0, "{}",
                "[]", True, now))


def fill(db: Database, count: int) -> None:
    """Bulk insert `count` more tickets, 20,000 per transaction."""
    dialect = db.engine.dialect.name
    with db.engine.connect() as conn:
        first = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM tickets")).scalar() or 0
    if dialect != "sqlite":
        drop_index(db)
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        batch: list[tuple[tuple[object, ...], tuple[object, ...]]] = []
        for pair in rows(first, count):
            batch.append(pair)
            if len(batch) == 20_000:
                insert(dialect, cur, batch)
                raw.commit()
                batch = []
        if batch:
            insert(dialect, cur, batch)
            raw.commit()
    finally:
        raw.close()
    if dialect != "sqlite":
        make_index(db)


def insert(dialect: str, cur: object, batch: list[tuple[tuple[object, ...], ...]]) -> None:
    tickets = [t for t, _ in batch]
    articles = [a for _, a in batch]
    if dialect == "postgresql":
        with cur.copy(f"COPY tickets ({TICKET_COLUMNS}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in tickets:
                copy.write_row(row)
        with cur.copy(f"COPY articles ({ARTICLE_COLUMNS}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in articles:
                copy.write_row(row)
        return
    mark = "?" if dialect == "sqlite" else "%s"
    for table, columns, values in (("tickets", TICKET_COLUMNS, tickets),
                                   ("articles", ARTICLE_COLUMNS, articles)):
        marks = ", ".join([mark] * len(values[0]))
        # pymysql sends an executemany of INSERT ... VALUES as multi-row statements
        cur.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})",  # type: ignore[attr-defined]
                        values)


def drop_index(db: Database) -> None:
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(text("DROP INDEX IF EXISTS ix_articles_search"))
        else:
            conn.execute(text("DROP INDEX ft_articles ON articles"))


def tsv() -> str:
    """The indexed expression, read from the migration that makes the index."""
    spec = importlib.util.spec_from_file_location(
        "m0008", Path(__file__).resolve().parents[1]
        / "maildesk/store/migrations/versions/0008_search.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module._TSV)


def make_index(db: Database) -> None:
    """The index as migration 0008_search makes it."""
    started = time.perf_counter()
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(text(f"CREATE INDEX ix_articles_search ON articles USING gin ({tsv()})"))
            conn.execute(text("ANALYZE tickets"))
            conn.execute(text("ANALYZE articles"))
        else:
            conn.execute(text("CREATE FULLTEXT INDEX ft_articles ON articles (subject, body)"))
            conn.execute(text("ANALYZE TABLE tickets, articles"))
    print(f"  index made in {time.perf_counter() - started:.0f} s", flush=True)


def runtime(db: Database, folder: Path) -> SimpleNamespace:
    """What core.ticket_list reads: the bench desk's config (queue Support, agent alice)
    on this database."""
    from common import CONFIG

    from maildesk.config import load_config

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "maildesk.yaml"
    path.write_text(CONFIG.format(db="/nonexistent", port=2525, max_size="25MiB",
                                  relay_port=2526, retry_first="1h")
                    .replace("database: sqlite:////nonexistent",
                             f"database: {db.url}"))
    return SimpleNamespace(config=load_config(path), db=db)


def timed(work: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return times


def measure(db: Database, rt: SimpleNamespace, repeat: int) -> None:
    from maildesk.core.queries import ticket_page
    from maildesk.core.ticket_list import Filters, ticket_list

    agent = rt.config.agents[0]

    def api(q: str | None, page: int) -> Callable[[], object]:
        def run() -> object:
            rows, after = ticket_page(db, after=0, limit=50, queues=None, search=q)
            for _ in range(page - 1):
                assert after is not None, f"{q!r}: no page {page}"
                rows, after = ticket_page(db, after=after, limit=50, queues=None, search=q)
            return rows
        return run

    def web(q: str | None) -> Callable[[], object]:
        return lambda: ticket_list(rt, agent, Filters(q=q))

    base = {}
    for label, work in (("API page 1", api(None, 1)), ("API pages 1+2", api(None, 2)),
                        ("web page 1", web(None))):
        work()
        lat = timed(work, repeat)
        base[label] = percentile(lat, 50)
        print(f"{'(no q)':<16} {label:<14} p50 {base[label] * 1000:7.1f} ms  "
              f"p99 {percentile(lat, 99) * 1000:7.1f} ms", flush=True)
    for q in QUERIES:
        for label, work in (("API page 1", api(q, 1)), ("API pages 1+2", api(q, 2)),
                            ("web page 1", web(q))):
            work()
            lat = timed(work, repeat)
            p50 = percentile(lat, 50)
            print(f"{q!r:<16} {label:<14} p50 {p50 * 1000:7.1f} ms  p99 "
                  f"{percentile(lat, 99) * 1000:7.1f} ms  ({p50 / base[label]:.1f}x no q)",
                  flush=True)


def explain(db: Database) -> None:
    """The plans of page 1 of each query (the statement ticket_page runs)."""
    from sqlalchemy import select

    from maildesk.store.models import Ticket
    from maildesk.store.search import matching

    prefix = {"sqlite": "EXPLAIN QUERY PLAN ", "postgresql": "EXPLAIN ANALYZE ",
              "mysql": "EXPLAIN ", "mariadb": "EXPLAIN "}[db.engine.dialect.name]
    with db.reading() as session:
        for q in QUERIES:
            condition = matching(session, q, limit=51)
            query = select(Ticket.id).where(Ticket.id > 0).order_by(Ticket.id).limit(51)
            if condition is not None:
                query = query.where(condition)
            compiled = query.compile(session.get_bind(),
                                     compile_kwargs={"literal_binds": True})
            print(f"-- {q!r}\n{compiled}")
            for row in session.execute(text(prefix + str(compiled))):
                print("   ", " | ".join(str(c) for c in row))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database", required=True,
                   help="postgresql, mariadb (the local servers) or a database URL")
    p.add_argument("--tickets", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=40)
    p.add_argument("--explain", action="store_true", help="print the plans, measure nothing")
    args = p.parse_args()
    print(machine())
    db = Database(database_url(args.database))
    upgrade(db)
    with db.engine.connect() as conn:
        have = conn.execute(text("SELECT COUNT(*) FROM tickets")).scalar() or 0
    if have < args.tickets:
        print(f"filling {args.tickets - have} tickets ...", flush=True)
        started = time.perf_counter()
        fill(db, args.tickets - have)
        print(f"  {time.perf_counter() - started:.0f} s", flush=True)
    print(f"{db.engine.dialect.name}: {max(have, args.tickets)} tickets", flush=True)
    if args.explain:
        explain(db)
        return
    with tempfile.TemporaryDirectory(prefix="maildesk-bench-search-") as tmp:
        measure(db, runtime(db, Path(tmp)), args.repeat)
    db.dispose()


if __name__ == "__main__":
    main()
