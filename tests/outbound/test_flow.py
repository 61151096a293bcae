"""The sender without passes (issue 20): a lane never waits for a slower one before new
rows are claimed, and the lanes' outcomes share commits."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import maildesk.outbound.batches as batches
from maildesk.outbound.sender import run_sender
from tests.conftest import Desk, simple_mail
from tests.outbound.conftest import Sink, wait_for

SLOW = "slow@example.org"


def _slow_for(sink: Sink, address: str, seconds: float) -> None:
    original = sink.handler.handle_DATA

    async def handle(server: Any, session: Any, envelope: Any) -> str:
        if any(address in rcpt for rcpt in envelope.rcpt_tos):
            await asyncio.sleep(seconds)
        return await original(server, session, envelope)

    sink.handler.handle_DATA = handle  # type: ignore[method-assign]


class Running:
    """`run_sender` in a thread of its own, with its wake event."""

    def __init__(self, desk: Desk) -> None:
        self.app = desk.app()
        self.loop = asyncio.new_event_loop()
        self.stop, self.wake = asyncio.Event(), asyncio.Event()
        self.thread = threading.Thread(
            target=self.loop.run_until_complete,
            args=(run_sender(self.app, self.stop, poll=30, wake=self.wake),), daemon=True)
        self.thread.start()

    def nudge(self) -> None:
        self.loop.call_soon_threadsafe(self.wake.set)

    def end(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(timeout=15)
        self.app.close()
        assert not self.thread.is_alive()
        self.loop.close()


@pytest.fixture
def commits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The number of outcomes in each settle commit: the settler's own, and those the
    claimer makes in its claim's transaction."""
    sizes: list[int] = []
    real, within = batches.settle, batches.settle_in

    def counting(db, config, outcomes, react=None):  # noqa: ANN001, ANN202
        sizes.append(len(outcomes))
        return real(db, config, outcomes, react)

    def counting_in(session, config, outcomes, react=None):  # noqa: ANN001, ANN202
        sizes.append(len(outcomes))
        return within(session, config, outcomes, react)

    monkeypatch.setattr(batches, "settle", counting)
    monkeypatch.setattr(batches, "settle_in", counting_in)
    yield sizes


def test_a_slow_mail_holds_up_no_other_lane(odesk_factory: Any, sink: Sink,
                                            commits: list[int]) -> None:
    """Mail queued while one lane waits on a slow relay answer goes out over the other
    lane at once; with passes it waited for the slow mail's pass to end."""
    desk = odesk_factory(sink.port, outbound="  connections: 2\n")
    _slow_for(sink, SLOW, 3.0)
    sender = Running(desk)
    try:
        desk.ingest(simple_mail(subject="slow", sender=SLOW), sender=SLOW)
        sender.nudge()
        wait_for(lambda: len(sink.received) == 1)  # the notification; the auto-response waits
        started = time.monotonic()
        for n in range(2):
            desk.ingest(simple_mail(subject=f"quick {n}", sender=f"q{n}@example.org"),
                        sender=f"q{n}@example.org")
            sender.nudge()
        wait_for(lambda: len(sink.received) == 5, timeout=2.5)
        assert time.monotonic() - started < 2.5
        assert sink.to(SLOW) == []  # still in flight: the others did not wait for it
        wait_for(lambda: len(sink.to(SLOW)) == 1)
    finally:
        sender.end()
    keys = [r.message["Message-ID"] + r.rcpt_tos[0] for r in sink.received]
    assert len(keys) == 6 and len(set(keys)) == 6
    assert sum(commits) == 6  # each outcome settled once


def test_the_lanes_outcomes_share_commits(odesk_factory: Any, sink: Sink,
                                          commits: list[int]) -> None:
    desk = odesk_factory(sink.port, outbound="  connections: 8\n")
    for n in range(12):  # 24 rows
        desk.ingest(simple_mail(subject=f"n{n}", sender=f"c{n}@example.org"),
                    sender=f"c{n}@example.org")
    sender = Running(desk)
    try:
        wait_for(lambda: len(sink.received) == 24)
    finally:
        sender.end()
    assert sum(commits) == 24
    assert len(commits) < 24, commits  # one commit for several mails, not one each


def test_a_reload_changes_the_number_of_lanes(odesk_factory: Any, sink: Sink) -> None:
    from maildesk.config import load_config

    desk = odesk_factory(sink.port, outbound="  connections: 1\n")
    _slow_for(sink, "@", 0.1)  # each mail holds its connection a while

    def batch(first: int) -> None:
        for n in range(first, first + 4):  # 8 rows
            desk.ingest(simple_mail(subject=f"n{n}", sender=f"c{n}@example.org"),
                        sender=f"c{n}@example.org")

    batch(0)
    sender = Running(desk)
    try:
        wait_for(lambda: len(sink.received) == 8)
        assert len({r.peer for r in sink.received}) == 1
        text = desk.config_path.read_text().replace("connections: 1", "connections: 4")
        desk.config_path.write_text(text)
        sender.loop.call_soon_threadsafe(sender.app.reload, load_config(desk.config_path))
        batch(4)
        sender.nudge()
        wait_for(lambda: len(sink.received) == 16)
    finally:
        sender.end()
    assert len({r.peer for r in sink.received[8:]}) == 4
