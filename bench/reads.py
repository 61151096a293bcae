"""Reads beside intake: ingest latency alone, and while another process keeps reading
(`maildesk tickets --json` over and over, plus a read transaction held open for seconds, as
a long listing or a slow web page does). Issue 11: readers take no write lock, so the ratio
should be noise. Prints p50/p99 per phase and the ratio to the quiet phase (same run).

    .venv/bin/python bench/reads.py [-n MAILS]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOLD = r"""
import sys, time
from sqlalchemy import text
from maildesk.store.db import Database
db = Database(sys.argv[1])
while True:
    with db.reading() as s:
        s.execute(text("SELECT COUNT(*) FROM tickets")).scalar()
        time.sleep(2.0)
"""


def mail(n: int) -> bytes:
    return (f"From: c{n}@customer.example\r\nTo: support@example.com\r\nSubject: bench {n}"
            f"\r\nMessage-ID: <reads-{n}-{time.time_ns()}@bench.example>\r\n\r\nHello.\r\n"
            ).encode()


def phase(app, count: int, start: int) -> list[float]:  # noqa: ANN001
    from maildesk.intake.message import Envelope

    env = Envelope("c@customer.example", ("support@example.com",))
    times = []
    for n in range(start, start + count):
        t = time.perf_counter()
        outcome = app.ingest(mail(n), env)
        times.append((time.perf_counter() - t) * 1000)
        assert outcome.code == 250, outcome
    return times


def summary(name: str, times: list[float], base: list[float] | None) -> None:
    p50 = statistics.median(times)
    p99 = sorted(times)[int(len(times) * 0.99) - 1]
    ratio = "" if base is None else (
        f"  ratio p50 {p50 / statistics.median(base):.2f}, "
        f"p99 {p99 / sorted(base)[int(len(base) * 0.99) - 1]:.2f}")
    print(f"{name:<34} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=200, help="mails per phase")
    args = parser.parse_args()
    from maildesk.app import open_app
    from maildesk.config import load_config

    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "maildesk.yaml"
        subprocess.run([sys.executable, "-m", "maildesk", "--config", str(config_path),
                        "init"], check=True, capture_output=True, cwd=tmp)
        app = open_app(load_config(config_path))
        phase(app, 50, 0)  # warm up
        quiet = phase(app, args.n, 1000)
        reader = subprocess.Popen([sys.executable, "-c", HOLD, app.config.database], cwd=tmp)
        listers: list[subprocess.Popen[bytes]] = []
        try:
            time.sleep(1.0)
            held = phase(app, args.n, 5_000)
            listers.append(subprocess.Popen(
                ["sh", "-c", f"while true; do {sys.executable} -m maildesk --config "
                 f"{config_path} tickets --json >/dev/null; done"], cwd=tmp,
                start_new_session=True))
            busy = phase(app, args.n, 10_000)
        finally:
            for p in listers:  # the shell and the listing it runs: its own group
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            reader.kill()
            reader.wait()
        app.close()
    print(f"ingest of {args.n} mails in-process, SQLite (WAL), one writer")
    summary("quiet", quiet, None)
    summary("read transactions held open", held, quiet)
    summary("... and a tickets --json loop", busy, quiet)
    print("(the loop starts a Python process after another: on 2 shared cores its CPU,\n"
          " not a lock, is what the last ratio shows; the held reads show the locks)")


if __name__ == "__main__":
    main()
