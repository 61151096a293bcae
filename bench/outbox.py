"""How fast the outbox drains into a local SMTP sink.

Queues N mails (one transaction, as ingestion would over many), then runs sender passes
until all are sent and prints mails per second. Everything runs on loopback in a temporary
folder: SQLite database, an aiosmtpd sink that only counts.

    python bench/outbox.py [N]
    python bench/outbox.py --ingested N [SIZE]
    python bench/outbox.py --flowing N RATE

With `--ingested`, the rows are the real ones: N mails of SIZE bytes (2,000 by default;
half new tickets, half replies, as bench/endtoend.py sends them) go through `App.ingest`,
which queues their auto-responses and notifications as what to send; then sender passes
the daemon's sender (`run_sender`, relay connections kept open) renders and sends them to a
do-nothing aiosmtpd in its own process until none is queued, and it prints the sender's
CPU per outbound mail (every thread of this process: claim, render, SMTP, settle; and a
count of the queued rows every 50 ms to see the end).
"""

from __future__ import annotations

import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from maildesk.app import ensure_secret, open_app
from maildesk.config import load_config
from maildesk.outbound.outbox import enqueue
from maildesk.outbound.render import build_message, new_message_id
from maildesk.outbound.sender import send_due_once
from maildesk.store.migrate import upgrade

CONFIG = """\
instance: {{name: Bench, secret_file: ./secret}}
database: sqlite:///./bench.db
storage: {{path: ./var}}
outbound: {{relay: "127.0.0.1:{port}", bounce_address: bounces@example.com}}
queues: [{{name: Support, address: support@example.com}}]
"""


class Counter:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


def main(n: int) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = Counter()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "maildesk.yaml"
        path.write_text(CONFIG.format(port=port))
        config = load_config(path)
        ensure_secret(config.instance.secret_file)
        app = open_app(config)
        upgrade(app.db)
        body = "Hello,\n\nthis is a typical auto-response of a few lines.\n" * 5
        started = time.perf_counter()
        with app.db.transaction() as session:
            for i in range(n):
                msg = build_message(from_name="Support", from_addr="support@example.com",
                                    to=[("Customer", f"c{i}@example.org")],
                                    subject=f"[Ticket#{i}] Printer on fire", body=body,
                                    message_id=new_message_id("example.com"),
                                    extra={"Auto-Submitted": "auto-replied"})
                enqueue(session, config, ticket=None, kind="autoreply", message=msg,
                        recipients=[f"c{i}@example.org"])
        queued = time.perf_counter() - started
        started = time.perf_counter()
        sent = 0
        while sent < n:
            done = send_due_once(app)
            if done == 0:
                break
            sent += done
        elapsed = time.perf_counter() - started
        app.close()
    controller.stop()
    print(f"queued {n} mails in {queued:.2f}s ({n / queued:.0f}/s, rendering included)")
    print(f"sent {sent} mails in {elapsed:.2f}s: {sent / elapsed:.0f} mails/s "
          f"(sink counted {sink.count})")


def queued(app: Any) -> int:
    from sqlalchemy import func, select

    from maildesk.store.models import OutboxMail

    with app.db.reading() as session:
        return int(session.execute(select(func.count()).select_from(OutboxMail)
                                   .where(OutboxMail.state == "queued")).scalar_one())


def sent_count(app: Any) -> int:
    from sqlalchemy import func, select

    from maildesk.store.models import OutboxMail

    with app.db.reading() as session:
        return int(session.execute(select(func.count()).select_from(OutboxMail)
                                   .where(OutboxMail.state == "sent")).scalar_one())


def ingested(n: int, size: int) -> None:
    import asyncio
    import os

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import free_port, machine, make_desk, sources, start_noop

    from maildesk.intake.message import Envelope
    from maildesk.outbound.sender import run_sender

    with tempfile.TemporaryDirectory() as tmp:
        sink = start_noop(Path(tmp), pin=False)
        try:
            config = make_desk(Path(tmp) / "desk", free_port(), relay_port=sink.port)
            app = open_app(load_config(config))
            source = sources(1, size, f"o{os.getpid()}")[0]
            for _ in range(n):
                sender, raw, record = source.next()
                outcome = app.ingest(raw, Envelope(sender, ["support@example.com"]))
                if record is not None:
                    record.ticket = outcome.ticket

            async def drain() -> None:
                """The daemon's sender (run_sender) until no row is queued (or 2 minutes)."""
                stop, deadline = asyncio.Event(), time.monotonic() + 120
                task = asyncio.create_task(run_sender(app, stop, worker="bench"))
                while await asyncio.to_thread(queued, app) and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                stop.set()
                await task

            cpu, wall = time.process_time(), time.perf_counter()
            asyncio.run(drain())
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            sent = sent_count(app)
            app.close()
        finally:
            sink.stop()
    print(f"{n} ingested mails of {size} bytes, {sent} outbound sent in {wall:.2f}s: "
          f"{cpu / max(sent, 1) * 1e3:.2f} ms CPU per outbound mail ({machine()})")


def flowing(n: int, rate: float, size: int = 2000) -> None:
    """The daemon's shape in one process: mails ingested at `rate` per second in a thread
    (waking the sender after each, as serve does) while `run_sender` sends; the CPU of
    everything per inbound mail, and how long the last outbound mail took after the last
    ingest (the sender keeping up, or not)."""
    import asyncio
    import os
    import threading

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import free_port, machine, make_desk, sources, start_noop

    from maildesk.intake.message import Envelope
    from maildesk.outbound.sender import run_sender

    ingest_cpu: list[float] = []  # the ingest thread's own CPU time
    loop_cpu: list[float] = []  # the event loop's (SMTP to the relay, the lanes, the settler)
    with tempfile.TemporaryDirectory() as tmp:
        sink = start_noop(Path(tmp), pin=False)
        try:
            config = make_desk(Path(tmp) / "desk", free_port(), relay_port=sink.port)
            app = open_app(load_config(config))
            source = sources(1, size, f"f{os.getpid()}")[0]
            mails = [source.next()[:2] for _ in range(n)]

            async def run() -> float:
                loop_cpu.append(-time.thread_time())
                loop, stop, wake = asyncio.get_running_loop(), asyncio.Event(), asyncio.Event()
                task = asyncio.create_task(run_sender(app, stop, worker="bench", wake=wake))

                def ingest() -> None:
                    start, cpu = time.perf_counter(), time.thread_time()
                    for i, (sender, raw) in enumerate(mails):
                        time.sleep(max(0.0, start + i / rate - time.perf_counter()))
                        app.ingest(raw, Envelope(sender, ["support@example.com"]))
                        loop.call_soon_threadsafe(wake.set)
                    ingest_cpu.append(time.thread_time() - cpu)

                feeder = threading.Thread(target=ingest)
                feeder.start()
                await asyncio.to_thread(feeder.join)
                ended = time.perf_counter()
                while await asyncio.to_thread(queued, app):
                    await asyncio.sleep(0.05)
                lag = time.perf_counter() - ended
                stop.set()
                await task
                loop_cpu[0] += time.thread_time()
                return lag

            cpu, wall = time.process_time(), time.perf_counter()
            lag = asyncio.run(run())
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            sent = sent_count(app)
            app.close()
        finally:
            sink.stop()
    rest = cpu - sum(ingest_cpu)  # the event loop and the sender's threads
    print(f"{n} mails at {rate:.0f}/s, {sent} outbound sent, the last {lag:.2f}s after the "
          f"last ingest: {cpu / n * 1e3:.2f} ms CPU per inbound mail, of which "
          f"{rest / max(sent, 1) * 1e3:.2f} ms per outbound mail outside the ingest thread "
          f"(the sender; its event loop {loop_cpu[0] / max(sent, 1) * 1e3:.2f} ms; {machine()})")


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--flowing":
        flowing(int(sys.argv[2]), float(sys.argv[3]))
    elif len(sys.argv) > 2 and sys.argv[1] == "--ingested":
        ingested(int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 2000)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
