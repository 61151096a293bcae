"""Restart mid-send (issue 13): the daemon is stopped or killed while its sender works
through a busy outbox behind a slow relay. A SIGTERM finishes the mails in flight and
resends nothing; a SIGKILL resends at most the mails in flight or not yet noted as sent
(two per relay connection: a lane sends its next mail while the last one's settle
commits, outbound/lanes.py); either way the restarted daemon sends the rest at once, not
after a lease."""

from __future__ import annotations

import asyncio
import signal
import smtplib
import sqlite3
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from smtp_helpers import Daemon, mail, prepare

from maildesk.outbound.sender import CONNECTIONS
from tests.drills.conftest import drill_config
from tests.outbound.conftest import Sink, SinkHandler

MAILS = 20  # each makes an auto-response and an agent notification: 40 outbox rows


class SlowHandler(SinkHandler):
    """The relay takes `delay` seconds to answer each DATA."""

    delay: float = 0.5

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


def _slow_sink() -> Sink:
    sink = Sink()
    sink.handler = SlowHandler()
    return sink.start()


def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def _outbox_keys(d: Daemon) -> set[tuple[str, str]]:
    with sqlite3.connect(d.db_path, timeout=30) as conn:
        rows = conn.execute("SELECT message_id, to_addr FROM outbox").fetchall()
    return {(str(m), str(a).lower()) for m, a in rows}


def _keys(sink: Sink) -> Counter[tuple[str, str]]:
    return Counter((str(r.message["Message-ID"]).strip().strip("<>"), r.rcpt_tos[0].lower())
                   for r in list(sink.received))


def _busy_daemon(tmp_path: Path, daemons: list[Daemon], sink: Sink) -> Daemon:
    config = drill_config(tmp_path, relay_port=sink.port)
    prepare(config)
    d = Daemon(config)
    daemons.append(d)
    d.start()
    with smtplib.SMTP("127.0.0.1", d.port(), timeout=20) as s:
        for n in range(MAILS):
            who = f"customer{n}@customer.example"
            raw = mail(f"send-{n}-{uuid.uuid4().hex[:8]}@drill.example",
                       subject=f"restart drill {n}", sender=who)
            assert s.sendmail(who, ["support@example.com"], raw) == {}
    assert _wait(lambda: len(_outbox_keys(d)) == 2 * MAILS, 10)
    return d


def _restart_and_finish(d: Daemon, sink: Sink) -> Counter[tuple[str, str]]:
    """Restart with a fast relay: everything arrives within seconds (a lease left to run
    out would take a minute at least); then wait past a retry for stray second copies."""
    sink.handler.delay = 0.0  # type: ignore[attr-defined]
    d.start()
    expected = _outbox_keys(d)
    assert _wait(lambda: set(_keys(sink)) >= expected, 15), (
        f"{len(set(_keys(sink)))} of {len(expected)} delivered after the restart")
    time.sleep(1.5)
    return _keys(sink)


def test_sigterm_mid_send_finishes_in_flight_and_resends_nothing(
        tmp_path: Path, daemons: list[Daemon]) -> None:
    sink = _slow_sink()
    try:
        d = _busy_daemon(tmp_path, daemons, sink)
        assert _wait(lambda: len(sink.received) >= 6, 15)
        before, at_signal = time.monotonic(), len(sink.received)
        d.signal(signal.SIGTERM)
        assert d.wait(20) == 0
        # the mail in flight on each connection, no more: not the rest of the batch
        assert len(sink.received) - at_signal <= CONNECTIONS
        assert time.monotonic() - before < 5
        counts = _restart_and_finish(d, sink)
    finally:
        sink.stop()
    assert max(counts.values()) == 1, [k for k, n in counts.items() if n > 1]
    assert len(counts) == 2 * MAILS


def test_sigkill_mid_send_resends_at_most_two_mails_per_connection(
        tmp_path: Path, daemons: list[Daemon]) -> None:
    sink = _slow_sink()
    try:
        d = _busy_daemon(tmp_path, daemons, sink)
        assert _wait(lambda: len(sink.received) >= 6, 15)
        d.signal(signal.SIGKILL)
        d.wait(10)
        counts = _restart_and_finish(d, sink)
    finally:
        sink.stop()
    assert len(counts) == 2 * MAILS
    resent = sum(n - 1 for n in counts.values())
    assert resent <= 2 * CONNECTIONS, f"{resent} mails sent twice"
