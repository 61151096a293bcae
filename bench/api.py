"""HTTP API figures beside SMTP ingest, measured in the same run (issue 15):

1. ticket creation over HTTP at concurrency 8 vs SMTP ingest at concurrency 8 (target: at
   least 50%): both open tickets through the same pipeline, auto-response included;
2. GET of a ticket with 50 articles, paced at 100 requests/s (target: p99 under 20 ms);
3. GET /tickets?q= (full text) on many stored tickets (target: p99 under 100 ms at
   1,000,000; `--tickets` sets the count, rows are inserted with SQL before `serve` starts).

    .venv/bin/python bench/api.py [--seconds 10] [--tickets 100000] [--parts create,get,q]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from common import (  # noqa: E402
    MailSource,
    cpu_seconds,
    db_path,
    free_port,
    machine,
    make_desk,
    percentile,
    run_load,
    start_maildesk,
)

QUERIES = ("zebracorn", "printer refund", "printer")  # 1 in 10,000 tickets; ~76%; ~87%
WORDS = ("printer fire invoice refund login password shipping delay broken screen battery "
         "upgrade contract cancel address payment warranty laptop router license").split()


def token(config: Path) -> str:
    out = subprocess.run([sys.executable, "-m", "maildesk", "--config", str(config), "token",
                          "create", f"bench{time.time_ns()}", "--scope", "write"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


async def create_load(url: str, tok: str, seconds: float, concurrency: int) -> tuple[int, float]:
    headers = {"Authorization": f"Bearer {tok}"}
    done = 0
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
        deadline = time.perf_counter() + seconds

        async def worker(n: int) -> None:
            nonlocal done
            i = 0
            while time.perf_counter() < deadline:
                i += 1
                r = await client.post("/api/v1/tickets", json={
                    "customer": f"http{n}x{i}@example.org", "subject": f"HTTP case {n}/{i}",
                    "body": "Hello,\n" + "the printer is on fire. " * 80})
                if r.status_code == 201:
                    done += 1
        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        return done, time.perf_counter() - started


async def paced_gets(url: str, tok: str, path: str, rate: float, seconds: float,
                     timeline: list[tuple[float, float]] | None = None) -> list[float]:
    """Open loop: a request every 1/rate s whatever the answers do; latency per request
    (and, into `timeline`, (start offset s, latency s) of each: where the slow ones fall)."""
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {tok}"},
                                 timeout=60,
                                 # idle connections dropped before uvicorn's 5 s keep-alive
                                 # ends them: a request on a closing one is a ReadError
                                 limits=httpx.Limits(max_connections=64,
                                                     keepalive_expiry=2)) as c:
        async def one() -> None:
            t = time.perf_counter()
            r = await c.get(path)
            r.raise_for_status()
            latencies.append(time.perf_counter() - t)
            if timeline is not None:
                timeline.append((t - start, latencies[-1]))

        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return latencies


def fill(config: Path, count: int) -> None:
    """`count` tickets with one article each, straight into SQLite (FTS triggers fire)."""
    rng = random.Random(15)
    conn = sqlite3.connect(db_path(config))
    now = "2026-11-30 10:00:00"
    batch = 20_000
    base = conn.execute("SELECT COALESCE(MAX(id), 0) FROM tickets").fetchone()[0]
    for start in range(0, count, batch):
        rows = range(start, min(start + batch, count))
        conn.executemany(
            "INSERT INTO tickets (id, number, title, queue, state, priority, locked, customer,"
            " cc_json, tags_json, created_at, updated_at, version) VALUES"
            " (?, ?, ?, 'Support', 'open', 3, 0, ?, '[]', '[]', ?, ?, 1)",
            [(base + 1 + i, f"B{base + 1 + i}", f"case {i}", f"c{i % 5000}@example.org",
              now, now) for i in rows])
        conn.executemany(
            "INSERT INTO articles (ticket_id, from_addr, to_json, cc_json, subject, sender_type,"
            " visibility, kind, body, raw_size, envelope_json, notes_json, verified,"
            " created_at) VALUES (?, '', '[]', '[]', ?, 'customer', 'public', 'mail', ?, 0,"
            " '{}', '[]', 1, ?)",
            [(base + 1 + i, f"case {i}",
              " ".join(rng.choice(WORDS) for _ in range(40))
              + (" zebracorn" if i % 10_000 == 0 else ""), now) for i in rows])
        conn.commit()
    conn.close()


def recount(config: Path) -> None:
    """The kept counts by queue and state (store.rollup) after the rows `fill` wrote past
    the ORM, as a restore would: the overview and /metrics read them."""
    from maildesk.app import open_app
    from maildesk.config import load_config
    from maildesk.store import rollup

    app = open_app(load_config(config))
    try:
        with app.db.transaction() as session:
            if rollup.drift(session):
                rollup.rebuild(session)
    finally:
        app.close()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--tickets", type=int, default=100_000)
    p.add_argument("--parts", default="create,get,q", help="which figures (comma list)")
    p.add_argument("--folder", type=Path, help="a desk of an earlier run to reuse: only the "
                   "tickets it lacks are filled (a million take 15 min to insert)")
    args = p.parse_args()
    parts = set(args.parts.split(","))
    print(machine())
    folder = args.folder or Path(tempfile.mkdtemp(prefix="maildesk-bench-api-"))
    http_port = free_port()
    config = make_desk(folder, free_port())
    text = config.read_text().replace("listen:\n", f"listen:\n  http: 127.0.0.1:{http_port}\n")
    config.write_text(text + "api:\n  rate_limit: 1000000\n  burst: 1000000\n")
    tok = token(config)
    print(f"filling {args.tickets} tickets ...", flush=True)
    t = time.perf_counter()
    with sqlite3.connect(db_path(config)) as conn:
        have = conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0]
    fill(config, max(0, args.tickets - have))
    recount(config)
    print(f"  {time.perf_counter() - t:.0f} s")
    server = start_maildesk(config, pin=False)
    url = f"http://127.0.0.1:{http_port}"
    try:
        if "create" in parts:
            create_vs_smtp(server.port, url, tok, args.seconds)
        if "get" in parts:
            get_fifty(url, tok, args.seconds, server.pid)
        if "q" in parts:
            asyncio.run(warm_up(url, tok, QUERIES))
        for q in QUERIES if "q" in parts else ():
            timeline: list[tuple[float, float]] = []
            lat = asyncio.run(paced_gets(url, tok, f"/api/v1/tickets?q={q}&limit=50", 20,
                                         args.seconds / 2, timeline))
            slowest = ", ".join(f"{ms * 1000:.0f} ms at {at:.2f} s" for at, ms in
                                sorted(timeline, key=lambda x: -x[1])[:3])
            print(f"3. list q={q!r} on {args.tickets} tickets at 20/s: p50 "
                  f"{percentile(lat, 50) * 1000:.1f} ms, p99 {percentile(lat, 99) * 1000:.1f} ms"
                  f" (target < 100 ms at 1,000,000); {len(lat)} requests, slowest {slowest}",
                  flush=True)
    finally:
        server.stop()


async def warm_up(url: str, tok: str, queries: tuple[str, ...]) -> None:
    """Each query once before the clock starts, shown on its own. The server's first
    request pays the process's one-time costs (statements compiled, a reader connection
    opened, the FTS index's structure read) and the client's its lazy imports (httpx's
    async backend: ~50 ms): each was the "p99" of 100 requests (their slowest) before."""
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {tok}"},
                                 timeout=60) as c:
        for q in queries:
            t = time.perf_counter()
            (await c.get("/api/v1/tickets", params={"q": q, "limit": 50})).raise_for_status()
            print(f"   warm-up q={q!r}: {(time.perf_counter() - t) * 1000:.0f} ms (not counted)",
                  flush=True)


def create_vs_smtp(port: int, url: str, tok: str, seconds: float) -> None:
    run_load(port, [MailSource(c, 2_000, run="w") for c in range(8)], seconds=3)
    smtp = run_load(port, [MailSource(c, 2_000, run="m") for c in range(8)], seconds=seconds)
    created, elapsed = asyncio.run(create_load(url, tok, seconds, 8))
    http_rate = created / elapsed
    print(f"1. create, concurrency 8: SMTP {smtp.rate:.1f} tickets+followups/s, "
          f"HTTP {http_rate:.1f} tickets/s = {100 * http_rate / smtp.rate:.0f}% "
          "(target >= 50%)")


def get_fifty(url: str, tok: str, seconds: float, pid: int) -> None:
    """A ticket of 50 articles (49 notes of ~1 KB) fetched at 100/s, open loop; beside it
    the yardstick of the same run: GET /healthz at the same pace (the HTTP stack alone).
    First one at a time (the service time, queueing left out), with the server's CPU per
    request from /proc: the figures that mean something on a loaded machine."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tok}"}) as c:
        number = c.post("/api/v1/tickets", json={"customer": "big@example.org",
                                                 "subject": "fifty", "body": "one"}
                        ).json()["number"]
        for i in range(49):
            c.post(f"/api/v1/tickets/{number}/articles",
                   json={"body": f"note {i} " + "text " * 200, "visibility": "internal"})
        assert len(c.get(f"/api/v1/tickets/{number}").json()["articles"]) == 50
        paths = {"/healthz": "GET /healthz", f"/api/v1/tickets/{number}": "GET ticket with "
                 "50 articles", "/api/v1/tickets?limit=50": "GET list of 50 tickets"}
        one: dict[str, list[float]] = {path: [] for path in paths}
        cpu: dict[str, float] = dict.fromkeys(paths, 0.0)
        for _ in range(4):  # interleaved blocks: a change of load hits every path alike
            for path, times in one.items():
                before = cpu_seconds(pid)
                for _ in range(50):
                    t = time.perf_counter()
                    c.get(path).raise_for_status()
                    times.append(time.perf_counter() - t)
                cpu[path] += cpu_seconds(pid) - before
    base = percentile(one["/healthz"], 50)
    for path, name in paths.items():
        p50 = percentile(one[path], 50)
        print(f"2a. one at a time: {name} p50 {p50 * 1000:.1f} ms ({p50 / base:.1f}x "
              f"/healthz), server CPU {cpu[path] / len(one[path]) * 1000:.2f} ms/request")
    base_lat = asyncio.run(paced_gets(url, tok, "/healthz", 100, seconds))
    lat = asyncio.run(paced_gets(url, tok, f"/api/v1/tickets/{number}", 100, seconds))
    print(f"2b. at 100/s: GET ticket with 50 articles p50 {percentile(lat, 50) * 1000:.1f} ms,"
          f" p99 {percentile(lat, 99) * 1000:.1f} ms (target < 20 ms); GET /healthz p50 "
          f"{percentile(base_lat, 50) * 1000:.1f} ms, p99 {percentile(base_lat, 99) * 1000:.1f}"
          " ms")


if __name__ == "__main__":
    main()
