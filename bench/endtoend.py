"""End-to-end ingest (issue 20's yardstick): mails in over SMTP, every auto-response and
notification out to a sink, against aiosmtpd's do-nothing ceiling in the same run.

A mail counts as done when it is stored and its outbound mails have reached the sink (the
outbox rows are `sent`, which the sender marks only after the sink's 250). Each maildesk
cell uses a fresh desk: `maildesk serve` with group commit (the default) and, for the
before/after, with `MAILDESK_BATCH=1` (one commit per mail). The daemon and the ceiling
server are pinned to CPU 0; the client and the sink share CPU 1. The ceiling runs before
and after the maildesk cells; the ratio is against the mean of the two.

    python bench/endtoend.py                      # 2 KB, concurrency 8, 10 s per cell
    python bench/endtoend.py --size 100000        # 100 KB mails
    python bench/endtoend.py --seconds 3          # smoke run
    python bench/endtoend.py --statements 400     # only the SQL statements per mail
    python bench/endtoend.py --statements 300 --against /tmp/old-tree --rounds 3
                                                  # the same, this tree vs another, interleaved

Before the SMTP cells it runs a few hundred of the same mails through `App.ingest` in
this process and counts the SQL statements each costs (a SQLAlchemy event listener on the
engine): the round trips of the ingest transaction, outbox rows included.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    CLIENT_CPU,
    Server,
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
    start_noop,
    stored_count,
)


def outbox(config: Path) -> tuple[int, int]:
    """(outbox rows, of which sent)."""
    with sqlite3.connect(db_path(config), timeout=30) as db:
        total, sent = db.execute(
            "SELECT count(*), coalesce(sum(state = 'sent'), 0) FROM outbox").fetchone()
    return int(total), int(sent)


def statements(folder: Path, size: int, mails: int) -> tuple[float, float, dict[str, float]]:
    """(statements per mail, CPU ms per mail, statements per mail by verb and table) of
    `App.ingest` in this process, the same mails as the SMTP cells (after a warm-up)."""
    from sqlalchemy import event

    from maildesk.app import open_app
    from maildesk.config import load_config
    from maildesk.intake.message import Envelope

    config = make_desk(folder, free_port())
    app = open_app(load_config(config))
    counts: collections.Counter[str] = collections.Counter()

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        words = statement.split()
        verb = words[0].upper()
        table = {"INSERT": 2, "UPDATE": 1, "DELETE": 2}.get(verb)
        counts[f"{verb} {words[table].strip(chr(34))}" if table else verb] += 1

    source = sources(1, size, "s")[0]

    def one() -> None:
        sender, raw, record = source.next()
        outcome = app.ingest(raw, Envelope(sender, ["support@example.com"]))
        if record is not None:
            record.ticket = outcome.ticket

    try:
        for _ in range(50):
            one()
        event.listen(app.db.engine, "before_cursor_execute", count)
        cpu = time.process_time()
        for _ in range(mails):
            one()
        cpu = time.process_time() - cpu
        event.remove(app.db.engine, "before_cursor_execute", count)
    finally:
        app.close()
    by = {name: n / mails for name, n in counts.most_common()}
    return sum(counts.values()) / mails, cpu / mails * 1e3, by


def against(other: Path, mails: int, size: int, rounds: int) -> None:
    """The in-process count of this tree and of `other` (a checkout of another commit),
    alternating in fresh processes, so both see the same machine load; medians."""
    here = Path(__file__).resolve().parents[1]
    runs: dict[str, list[dict[str, float]]] = {str(other): [], str(here): []}
    for _ in range(rounds):
        for tree in runs:
            env = dict(os.environ, PYTHONPATH=tree)
            out = subprocess.run([sys.executable, __file__, "--statements", str(mails),
                                  "--size", str(size), "--json"], env=env, check=True,
                                 capture_output=True, text=True).stdout
            runs[tree].append(json.loads(out.strip().splitlines()[-1]))
    for tree, results in runs.items():
        per = statistics.median(r["per"] for r in results)
        cpu = statistics.median(r["cpu"] for r in results)
        print(f"{tree}: {per:.1f} SQL statements, {cpu:.2f} ms CPU per mail (median of "
              f"{rounds}: " + ", ".join(f"{r['cpu']:.2f}" for r in results) + ")")
        print("    " + ", ".join(f"{k} {v:.2f}" for k, v in results[-1]["by"].items()))


def ceiling(folder: Path, size: int, conc: int, seconds: float, pin: bool) -> float:
    noop = start_noop(folder, pin=pin)
    try:
        run_load(noop.port, sources(conc, size, "wn"), seconds=seconds, messages=200)
        return run_load(noop.port, sources(conc, size, "n"), seconds=seconds).rate
    finally:
        noop.stop()


def maildesk(folder: Path, size: int, conc: int, seconds: float, pin: bool,
             batch: int | None) -> dict[str, float]:
    folder.mkdir(parents=True)
    sink = start_noop(folder, pin=False)  # the relay: a do-nothing server
    config = make_desk(folder, free_port(), relay_port=sink.port, retry_first="1s")
    env = {"MAILDESK_BATCH": str(batch)} if batch else None
    server: Server = start_maildesk(config, pin=pin, env=env)
    try:
        run_load(server.port, sources(conc, size, "w"), seconds=seconds, messages=2 * conc)
        while outbox(config)[1] < outbox(config)[0]:
            time.sleep(0.05)
        before_in, (before_out, _) = stored_count(config), outbox(config)
        cpu0 = cpu_seconds(server.pid)
        start = time.perf_counter()
        load = run_load(server.port, sources(conc, size, "m"), seconds=seconds)
        acked = time.perf_counter() - start
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            total, sent = outbox(config)
            if sent >= total and stored_count(config) >= before_in + load.accepted:
                break
            time.sleep(0.02)
        done = time.perf_counter() - start
        cpu = cpu_seconds(server.pid) - cpu0
        total, sent = outbox(config)
        assert sent == total, f"outbox not drained: {sent}/{total}"
        return {"acked": load.accepted / acked, "done": load.accepted / done,
                "accepted": load.accepted, "bad": load.tempfail + load.rejected + load.errors,
                "out_per_in": (total - before_out) / max(1, load.accepted),
                "p50": load.ms(50), "p99": load.ms(99),
                "cpu_us": cpu / max(1, load.accepted) * 1e6, "done_s": done}
    finally:
        server.stop()
        sink.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--size", type=int, default=2_000)
    ap.add_argument("--conc", type=int, default=8)
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--no-before", action="store_true", help="skip the MAILDESK_BATCH=1 cell")
    ap.add_argument("--statements", type=int, default=400, metavar="N",
                    help="mails for the in-process statement count (0: skip it); alone "
                         "when given without --seconds")
    ap.add_argument("--against", type=Path, metavar="TREE",
                    help="with --statements: also count another source tree's, interleaved")
    ap.add_argument("--rounds", type=int, default=3, help="with --against: runs of each")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.json:
        with tempfile.TemporaryDirectory(prefix="maildesk-e2e-") as tmp:
            per, cpu, by = statements(Path(tmp) / "inproc", args.size, args.statements)
        print(json.dumps({"per": per, "cpu": cpu, "by": by}))
        return
    only_statements = "--statements" in sys.argv and "--seconds" not in sys.argv
    pin = not args.no_pin and can_pin()
    if pin:
        pin_self(CLIENT_CPU)
    print(f"# endtoend: {machine()} pinned={pin} size={args.size} conc={args.conc} "
          f"seconds={args.seconds} fsync(2 KB)={fsync_us(Path(tempfile.gettempdir())):.0f}us")
    if args.against:
        print(f"# in process, {args.statements} mails per run, {args.rounds} runs each "
              f"(load {os.getloadavg()[0]:.1f})")
        against(args.against, args.statements, args.size, args.rounds)
        return
    with tempfile.TemporaryDirectory(prefix="maildesk-e2e-") as tmp:
        if args.statements:
            per, cpu, by = statements(Path(tmp) / "inproc", args.size, args.statements)
            print(f"in process, {args.statements} mails: {per:.1f} SQL statements and "
                  f"{cpu:.2f} ms CPU per mail; "
                  + ", ".join(f"{name} {n:.2f}" for name, n in by.items()) + "\n", flush=True)
            if only_statements:
                return
        # The ceiling before and after the cells, their mean the yardstick: on a shared
        # host one 10 s run of it wandered from 733 to 1,460 msgs/s between runs minutes
        # apart (2026-12-02), where maildesk's own rate moved by a tenth.
        before = ceiling(Path(tmp), args.size, args.conc, args.seconds, pin)
        cells = [("group commit", None)] + ([] if args.no_before else [("MAILDESK_BATCH=1", 1)])
        results = [(name, maildesk(Path(tmp) / f"desk{n}", args.size, args.conc,
                                   args.seconds, pin, batch))
                   for n, (name, batch) in enumerate(cells)]
        after = ceiling(Path(tmp), args.size, args.conc, args.seconds, pin)
        top = (before + after) / 2
        print(f"aiosmtpd do-nothing ceiling: {top:.0f} msgs/s (before {before:.0f}, "
              f"after {after:.0f})\n")
        print("| maildesk | acked msgs/s | end to end msgs/s | vs ceiling | outbound per inbound "
              "| p50 ms | p99 ms | server CPU us/msg | accepted | non-2xx |")
        print("|" + "---|" * 10, flush=True)
        for name, r in results:
            print(f"| {name} | {r['acked']:.0f} | {r['done']:.0f} | {r['done'] / top:.1%} "
                  f"| {r['out_per_in']:.2f} | {r['p50']:.1f} | {r['p99']:.1f} "
                  f"| {r['cpu_us']:.0f} | {r['accepted']:.0f} | {r['bad']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
