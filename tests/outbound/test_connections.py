"""`outbound.connections`: how many mails the sender has at the relay at once (issue 20:
with 4 the sender fell behind under load; 16 doubled the end-to-end rate)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from maildesk.config import ConfigError, load_config
from maildesk.outbound.sender import run_sender
from tests.conftest import Desk, simple_mail
from tests.outbound.conftest import Sink, wait_for


def test_the_default_is_16_and_nonsense_is_refused(odesk: Desk, tmp_path: Path) -> None:
    assert odesk.config.outbound.connections == 16
    text = odesk.config_path.read_text()
    for value, ok in (("1", True), ("100", True), ("0", False), ("101", False), ("many", False)):
        path = tmp_path / f"c{value}.yaml"
        path.write_text(text.replace("outbound:\n", f"outbound:\n  connections: {value}\n", 1))
        if ok:
            assert load_config(path).outbound.connections == int(value)
            continue
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert any("outbound.connections: must be a whole number" in m
                   for m in info.value.messages), info.value.messages


def _slow(sink: Sink, seconds: float) -> None:
    original = sink.handler.handle_DATA

    async def slow(server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(seconds)
        return await original(server, session, envelope)

    sink.handler.handle_DATA = slow  # type: ignore[method-assign]


@pytest.mark.parametrize("connections", [1, 3])
def test_the_daemon_sender_uses_as_many_connections_as_configured(
        odesk_factory: Any, sink: Sink, connections: int) -> None:
    desk = odesk_factory(sink.port, outbound=f"  connections: {connections}\n")
    for i in range(6):  # 12 rows: an auto-response and a notification each
        desk.ingest(simple_mail(subject=f"n{i}", sender=f"c{i}@example.org"),
                    sender=f"c{i}@example.org")
    _slow(sink, 0.05)  # every lane is busy while the others take their rows
    app = desk.app()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete,
                              args=(run_sender(app, stop, poll=0.05),), daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        wait_for(lambda: len(sink.received) == 12)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        app.close()
    loop.close()
    assert not thread.is_alive()
    assert len({r.peer for r in sink.received}) == connections
    keys = {r.message["Message-ID"] + r.rcpt_tos[0] for r in sink.received}
    assert len(keys) == 12
    if connections == 1:  # one at a time: 12 answers of 50 ms in a row
        assert time.monotonic() - started >= 0.6
