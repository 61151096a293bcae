"""`maildesk customers import` of 100,000 rows on SQLite (issue 17's target: under 20 s).

Measures the whole command as an admin runs it (a process: start-up, reading and checking
every row, the upserts, the commit), first into an empty table (all new), then the same
file again (all updates), then `customers export`. The yardstick, in the same run on the
same disk: Python's sqlite3 inserting the same rows with a plain executemany into a fresh
table (no checks, no upsert), the floor for writing them at all.

    .venv/bin/python bench/customers_import.py [--rows N]
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """\
instance:
  name: Bench Support
  system_id: 10
  secret_file: ./var/secret
database: sqlite:///{db}
storage:
  path: ./var
queues:
  - name: Support
    address: support@example.com
"""
CPU: list[float] = []  # CPU seconds of each command run, in order
BCRYPT = "$2b$12$KIXQ4rM3Xc5OD1tPGPU4XeWbZ7q6QnF3qW0wH1dP7b6m3bYv7nJ1e"


def _rows(n: int) -> list[tuple[str, str, str, str, str]]:
    langs = ("en", "de", "es", "fr")
    return [(f"customer{i}@example{i % 97}.org", f"Customer Number {i}", f"Company {i % 1000}",
             langs[i % 4], BCRYPT if i % 10 == 0 else "") for i in range(n)]


def _cli(root: Path, *args: str, stdout: int | None = subprocess.DEVNULL) -> float:
    """Wall-clock seconds of one command; its CPU seconds are added to CPU[args[-1]]."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "maildesk", "--config",
                             str(root / "maildesk.yaml"), *args], cwd=root,
                            stdout=stdout, stderr=subprocess.PIPE, timeout=600)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"maildesk {' '.join(args)}: exit {result.returncode}: "
                         f"{result.stderr.decode()}")
    return elapsed


def _yardstick(root: Path, rows: list[tuple[str, str, str, str, str]]) -> float:
    conn = sqlite3.connect(root / "yardstick.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, address TEXT UNIQUE, "
                 "name TEXT, company TEXT, language TEXT, password_hash TEXT)")
    conn.execute("CREATE INDEX ix_company ON customers (company)")
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO customers (address, name, company, language, "
                     "password_hash) VALUES (?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="md-custimport-") as tmp:
        root = Path(tmp)
        (root / "maildesk.yaml").write_text(CONFIG.format(db=root / "var" / "maildesk.db"))
        _cli(root, "init")
        rows = _rows(args.rows)
        csv_path = root / "customers.csv"
        with csv_path.open("w", encoding="utf-8") as f:
            f.write("address,name,company,language,password_hash\n")
            f.writelines(",".join(r) + "\n" for r in rows)
        floor = _yardstick(root, rows)
        new = _cli(root, "customers", "import", str(csv_path))
        again = _cli(root, "customers", "import", str(csv_path))
        with (root / "export.csv").open("wb") as out:
            export = _cli(root, "customers", "export", stdout=out.fileno())
        size = os.path.getsize(csv_path) / 2**20
        same = (root / "export.csv").stat().st_size > 0
    load = os.getloadavg()[0]
    cpu_new, cpu_again, cpu_export = CPU[-3:]
    print(f"rows: {args.rows:,} ({size:.1f} MiB CSV), SQLite, {os.cpu_count()} CPUs, "
          f"load average {load:.1f}")
    print(f"yardstick: sqlite3 executemany INSERT, same rows: {floor:6.2f} s")
    print(f"customers import, empty table:    {new:6.2f} s  "
          f"({args.rows / new:,.0f} rows/s, {new / floor:.1f}x the yardstick; "
          f"CPU {cpu_new:.2f} s)")
    print(f"customers import, again (update): {again:6.2f} s  "
          f"({args.rows / again:,.0f} rows/s, {again / floor:.1f}x the yardstick; "
          f"CPU {cpu_again:.2f} s)")
    print(f"customers export:                 {export:6.2f} s  (CPU {cpu_export:.2f} s; "
          f"written: {same})")
    target = 20.0
    print(f"target: under {target:.0f} s -> {'met' if max(new, again) < target else 'MISSED'}")


if __name__ == "__main__":
    main()
