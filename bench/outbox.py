"""How fast the outbox drains into a local SMTP sink.

Queues N mails (one transaction, as ingestion would over many), then runs sender passes
until all are sent and prints mails per second. Everything runs on loopback in a temporary
folder: SQLite database, an aiosmtpd sink that only counts.

    python bench/outbox.py [N]
    python bench/outbox.py --ingested N [SIZE]

With `--ingested`, the rows are the real ones: N mails of SIZE bytes (2,000 by default;
half new tickets, half replies, as bench/endtoend.py sends them) go through `App.ingest`,
which queues their auto-responses and notifications as what to send; then sender passes
render and send them to a do-nothing aiosmtpd in its own process, and it prints the
sender's CPU per outbound mail (every thread of this process: claim, render, SMTP, settle).
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


def ingested(n: int, size: int) -> None:
    import asyncio
    import os

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import free_port, machine, make_desk, sources, start_noop

    from maildesk.intake.message import Envelope
    from maildesk.outbound.sender import send_due

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

            async def passes() -> int:
                total = 0
                while (done := await send_due(app, worker="bench")).claimed:
                    total += done.sent
                return total

            cpu, wall = time.process_time(), time.perf_counter()
            sent = asyncio.run(passes())
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            app.close()
        finally:
            sink.stop()
    print(f"{n} ingested mails of {size} bytes, {sent} outbound sent in {wall:.2f}s: "
          f"{cpu / max(sent, 1) * 1e3:.2f} ms CPU per outbound mail ({machine()})")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--ingested":
        ingested(int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 2000)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
