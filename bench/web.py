"""Web page figures (issue 16), against `maildesk serve` on loopback, in one run:

1. an agent's ticket page with 50 articles (half of them with an HTML part), GET one
   after another (target: p99 under 50 ms); yardstick: the page of a 1-article ticket;
2. the agent's queue overview `/` on 1,000,000 tickets (target: under 200 ms); yardstick:
   the count the overview used to make (GROUP BY queue, state over every ticket), timed
   on the same database in this process.

The tickets are inserted with bulk Core INSERTs (executemany, 20,000 a statement), 1% of
them with a breached SLA clock; the counts the ORM keeps (store.rollup) are rebuilt once
after. Filling stops at `--fill-seconds` and says how many it reached.

    .venv/bin/python bench/web.py [--tickets 1000000] [--requests 300] [--fill-seconds 600]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from common import free_port, machine, make_desk, percentile, start_maildesk  # noqa: E402

QUEUES = ("Support", "Billing", "Sales", "Junk")
STATES = ("new", "open", "pending reminder", "closed successful", "closed unsuccessful")
EXTRA = """\
  - name: Billing
    address: billing@example.com
    group: support
  - name: Sales
    address: sales@example.com
    group: support
  - name: Junk
    address: junk@example.com
    group: support
"""


def configure(folder: Path) -> tuple[Path, int]:
    http_port = free_port()
    config = make_desk(folder, free_port())
    text = config.read_text().replace("listen:\n", f"listen:\n  http: 127.0.0.1:{http_port}\n")
    text = text.replace("groups:\n", EXTRA + "groups:\n", 1)
    text = text.replace("support: {Support: [", "support: {Billing: [read], Sales: [read], "
                        "Junk: [read], Support: [")
    config.write_text(text)
    return config, http_port


def mail(n: int, first: str | None) -> bytes:
    lines = ["From: Carol <carol@example.org>", "To: support@example.com",
             f"Subject: Re: the printer on fire {n}", f"Message-ID: <web-{n}@bench.example>"]
    if first:
        lines.append(f"In-Reply-To: {first}")
    text = f"Message {n}.\n" + "The printer still burns, here is more about it. " * 30
    if n % 2:
        lines += ["MIME-Version: 1.0", 'Content-Type: multipart/alternative; boundary="b"',
                  "", "--b", "Content-Type: text/plain; charset=utf-8", "", text, "--b",
                  "Content-Type: text/html; charset=utf-8", "",
                  f"<p>{text}</p><table><tr><td>cell</td></tr></table>", "--b--", ""]
    else:
        lines += ["", text]
    return "\r\n".join(lines).encode()


def fifty_articles(config: Path) -> tuple[str, str]:
    from maildesk.app import open_app
    from maildesk.config import load_config
    from maildesk.intake.message import Envelope

    app = open_app(load_config(config))
    try:
        env = Envelope(sender="carol@example.org", recipients=("support@example.com",))
        number = app.ingest(mail(0, None), env).ticket
        for n in range(1, 50):
            assert app.ingest(mail(n, "<web-0@bench.example>"), env).ticket == number
        small = app.ingest(mail(100, None), env).ticket  # one article: the yardstick
        return str(number), str(small)
    finally:
        app.close()


def fill(config: Path, count: int, budget: float) -> int:
    """Tickets by bulk Core INSERT, then the counts rebuilt; returns how many were made."""
    from sqlalchemy import insert

    from maildesk.app import open_app
    from maildesk.config import load_config
    from maildesk.store import rollup
    from maildesk.store.models import Ticket, Timer

    app = open_app(load_config(config))
    now = datetime(2026, 11, 30, 10, 0)
    batch, made = 20_000, 0
    deadline = time.perf_counter() + budget
    try:
        with app.db.transaction() as session:
            base = 1 + (session.query(Ticket.id).order_by(Ticket.id.desc()).limit(1).scalar()
                        or 0)
        while made < count and time.perf_counter() < deadline:
            ids = range(base + made, base + min(made + batch, count))
            with app.db.transaction() as session:
                session.execute(insert(Ticket), [
                    {"id": i, "number": f"B{i}", "title": f"case {i}",
                     "queue": QUEUES[i % 7 % 4], "state": STATES[i % 5], "priority": 3,
                     "locked": False, "customer": f"c{i % 5000}@example.org",
                     "cc_json": "[]", "tags_json": "[]", "created_at": now,
                     "updated_at": now, "version": 1} for i in ids])
                session.execute(insert(Timer), [
                    {"ticket_id": i, "kind": "first_response", "queue": QUEUES[i % 7 % 4],
                     "stage": 2 if i % 100 == 0 else 0, "deadline": now, "created_at": now}
                    for i in ids if i % 5 < 2])
            made += len(ids)
        with app.db.transaction() as session:
            rollup.rebuild(session)
    finally:
        app.close()
    return made


def old_overview_count(config: Path) -> float:
    """The overview's former query: every ticket counted by queue and state."""
    from sqlalchemy import func, select

    from maildesk.app import open_app
    from maildesk.config import load_config
    from maildesk.store.models import Ticket

    app = open_app(load_config(config))
    try:
        times = []
        for _ in range(3):
            t = time.perf_counter()
            with app.db.reading() as session:
                session.execute(select(Ticket.queue, Ticket.state, func.count())
                                .where(Ticket.queue.in_(QUEUES))
                                .group_by(Ticket.queue, Ticket.state)).all()
            times.append(time.perf_counter() - t)
        return min(times)
    finally:
        app.close()


def overview_queries(config: Path) -> float:
    """The overview's own reads now (kept counts, breached clocks), in this process."""
    from maildesk.app import open_app
    from maildesk.config import load_config
    from maildesk.core.ticket_list import overview

    app = open_app(load_config(config))
    try:
        agent = app.config.agent("alice@example.com")
        assert agent is not None
        times = []
        for _ in range(5):
            t = time.perf_counter()
            overview(app.runtime, agent)
            times.append(time.perf_counter() - t)
        return min(times)
    finally:
        app.close()


def session_cookie(config: Path) -> str:
    from maildesk.app import open_app
    from maildesk.config import load_config
    from maildesk.http.web import sessions

    app = open_app(load_config(config))
    try:
        return sessions.start(app.db, "agent", "alice@example.com", "en")
    finally:
        app.close()


def timed(client: httpx.Client, path: str, count: int) -> list[float]:
    for _ in range(5):  # warm: templates compiled, connections open
        client.get(path).raise_for_status()
    out = []
    for _ in range(count):
        t = time.perf_counter()
        r = client.get(path)
        out.append(time.perf_counter() - t)
        r.raise_for_status()
    return out


def ms(values: list[float], p: float) -> str:
    return f"{percentile(values, p) * 1000:.1f}"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tickets", type=int, default=1_000_000)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--fill-seconds", type=float, default=600.0)
    args = p.parse_args()
    print(machine())
    folder = Path(tempfile.mkdtemp(prefix="maildesk-bench-web-"))
    config, http_port = configure(folder)
    number, small = fifty_articles(config)
    url = f"http://127.0.0.1:{http_port}"
    cookie = session_cookie(config)
    server = start_maildesk(config, pin=False)
    try:
        with httpx.Client(base_url=url, cookies={"maildesk_session": cookie},
                          timeout=60) as client:
            first = time.perf_counter()
            page = client.get(f"/tickets/{number}")  # the first view learns has_html
            first = time.perf_counter() - first
            assert page.text.count('<article class="article') == 50, page.text[:300]
            assert page.text.count("<iframe") == 25, "one frame per article with HTML"
            floor = timed(client, f"/tickets/{small}", args.requests)
            ticket = timed(client, f"/tickets/{number}", args.requests)
            ratio = percentile(ticket, 50) / percentile(floor, 50)
            print(f"1. ticket page, 50 articles, {args.requests} GETs: p50 {ms(ticket, 50)} ms,"
                  f" p99 {ms(ticket, 99)} ms (target < 50 ms); a 1-article ticket p50 "
                  f"{ms(floor, 50)} p99 {ms(floor, 99)} ms; p50 ratio {ratio:.1f}x; "
                  f"first view (HTML parts found) {first * 1000:.0f} ms")
    finally:
        server.stop()
    print(f"filling {args.tickets:,} tickets (at most {args.fill_seconds:.0f} s) ...",
          flush=True)
    t = time.perf_counter()
    made = fill(config, args.tickets, args.fill_seconds)
    print(f"  {made:,} tickets in {time.perf_counter() - t:.0f} s")
    before = old_overview_count(config)
    now = overview_queries(config)
    server = start_maildesk(config, pin=False)
    try:
        with httpx.Client(base_url=url, cookies={"maildesk_session": cookie},
                          timeout=60) as client:
            page = client.get("/")
            assert "Billing" in page.text and "Sales" in page.text, page.text[:300]
            over = timed(client, "/", max(30, args.requests // 5))
            print(f"2. overview on {made:,} tickets: p50 {ms(over, 50)} ms, p99 {ms(over, 99)}"
                  f" ms (target < 200 ms); the former GROUP BY over the tickets alone "
                  f"{before * 1000:.0f} ms, the overview's reads now {now * 1000:.0f} ms "
                  f"({before / now:.0f}x less)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
