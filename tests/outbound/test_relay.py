"""Connections to the relay kept open from one sender pass to the next (outbound/relay.py):
the next pass's mails go over the same connection; a relay that closed the connection
meanwhile costs no row an attempt; a stopped sender leaves nothing open."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

import maildesk.outbound.relay as relay_module
from maildesk.outbound.relay import Relay
from maildesk.outbound.sender import send_due
from maildesk.store.models import OutboxMail
from tests.conftest import Desk, simple_mail
from tests.outbound.conftest import Sink


def _rows(desk: Desk) -> list[OutboxMail]:
    app = desk.app()
    try:
        with app.db.transaction() as s:
            return list(s.execute(select(OutboxMail).order_by(OutboxMail.id)).scalars())
    finally:
        app.close()


def _mail(n: int) -> bytes:
    return simple_mail(subject=f"relay {n}", sender=f"c{n}@example.org",
                       message_id=f"relay-{n}@example.org")


def test_the_next_pass_uses_the_open_connection(odesk: Desk, sink: Sink) -> None:
    async def passes() -> list[int]:
        app, relay = odesk.app(), Relay()
        try:
            sent = []
            for n in range(3):
                odesk.ingest(_mail(n), sender=f"c{n}@example.org")
                sent.append((await send_due(app, relay=relay, connections=1)).sent)
            return sent
        finally:
            await relay.close()
            app.close()

    assert asyncio.run(passes()) == [2, 2, 2]  # an auto-response and a notification each
    assert len(sink.received) == 6
    assert len({r.peer for r in sink.received}) == 1  # one connection for the three passes
    assert all(r.state == "sent" and r.attempts == 1 for r in _rows(odesk))


@pytest.mark.parametrize("check_after", [0.0, 2.0])  # a NOOP first, or the close seen
def test_a_relay_that_dropped_the_connection_costs_no_attempt(
        odesk: Desk, sink: Sink, monkeypatch: pytest.MonkeyPatch, check_after: float) -> None:
    monkeypatch.setattr(relay_module, "CHECK_AFTER", check_after)
    restarted: list[Sink] = []

    async def passes() -> None:
        app, relay = odesk.app(), Relay()
        try:
            odesk.ingest(_mail(1), sender="c1@example.org")
            assert (await send_due(app, relay=relay)).sent == 2
            sink.stop()  # the relay restarts: the idle connections are gone
            restarted.append(Sink(sink.port).start())
            await asyncio.sleep(0.2)
            odesk.ingest(_mail(2), sender="c2@example.org")
            assert (await send_due(app, relay=relay)).sent == 2
        finally:
            await relay.close()
            app.close()

    try:
        asyncio.run(passes())
    finally:
        for relay_sink in restarted:
            relay_sink.stop()
    assert len(sink.received) == 2 and len(restarted[0].received) == 2
    assert all(r.state == "sent" and r.attempts == 1 for r in _rows(odesk))


def test_idle_connections_are_closed(odesk: Desk, sink: Sink) -> None:
    async def one_pass() -> tuple[int, int, int]:
        app, relay = odesk.app(), Relay()
        try:
            odesk.ingest(_mail(1), sender="c1@example.org")
            await send_due(app, relay=relay)
            held = len(relay._idle)
            await relay.close(idle_for=60)  # young: kept
            kept = len(relay._idle)
            await relay.close()
            return held, kept, len(relay._idle)
        finally:
            app.close()

    held, kept, after = asyncio.run(one_pass())
    assert held == kept == 2 and after == 0  # two lanes, two connections, then none
