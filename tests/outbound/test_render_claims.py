"""The claimer commits the lanes' waiting outcomes in its claim's transaction (issue 20):
each outcome is settled once, in one commit or the other; when that transaction fails,
the outcomes are settled by the settler as before and the claim is made alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import maildesk.outbound.batches as batches
from maildesk.outbound.outbox import outbox_rows
from tests.conftest import Desk, simple_mail
from tests.outbound.conftest import Sink, wait_for
from tests.outbound.test_flow import Running


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[int]]]:
    """Outcomes per commit: the settler's own (`alone`) and the claims' (`claim`)."""
    seen: dict[str, list[int]] = {"alone": [], "claim": []}
    real, within = batches.settle, batches.settle_in

    def alone(db, config, outcomes, react=None):  # noqa: ANN001, ANN202
        seen["alone"].append(len(outcomes))
        return real(db, config, outcomes, react)

    def in_claim(session, config, outcomes, react=None):  # noqa: ANN001, ANN202
        seen["claim"].append(len(outcomes))
        return within(session, config, outcomes, react)

    monkeypatch.setattr(batches, "settle", alone)
    monkeypatch.setattr(batches, "settle_in", in_claim)
    yield seen


def _rounds(desk: Desk, sender: Running, sink: Sink, rounds: int) -> None:
    for n in range(rounds):
        desk.ingest(simple_mail(subject=f"n{n}", sender=f"c{n}@example.org"),
                    sender=f"c{n}@example.org")
        sender.nudge()
        wait_for(lambda n=n: len(sink.received) == 2 * (n + 1))  # type: ignore[misc]


def _states(desk: Desk) -> list[tuple[str, int]]:
    app = desk.app()
    try:
        with app.db.reading() as session:
            return [(str(r["state"]), int(r["attempts"])) for r in outbox_rows(session)]
    finally:
        app.close()


def test_outcomes_ride_on_the_next_claim(odesk_factory: Any, sink: Sink,
                                          settled: dict[str, list[int]]) -> None:
    desk = odesk_factory(sink.port, outbound="  connections: 2\n")
    sender = Running(desk)
    try:
        _rounds(desk, sender, sink, 4)
    finally:
        sender.end()
    assert sum(settled["claim"]) > 0, settled  # the later claims carried earlier outcomes
    assert sum(settled["claim"]) + sum(settled["alone"]) == 8  # each settled once
    assert _states(desk) == [("sent", 1)] * 8
    keys = [r.message["Message-ID"] + r.rcpt_tos[0] for r in sink.received]
    assert len(keys) == 8 and len(set(keys)) == 8


def test_a_failing_claim_transaction_leaves_the_outcomes_to_the_settler(
        odesk_factory: Any, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    alone: list[int] = []
    real = batches.settle

    def broken(session, config, outcomes, react=None):  # noqa: ANN001, ANN202
        raise RuntimeError("settle in the claim broke")

    def counting(db, config, outcomes, react=None):  # noqa: ANN001, ANN202
        alone.append(len(outcomes))
        return real(db, config, outcomes, react)

    monkeypatch.setattr(batches, "settle_in", broken)
    monkeypatch.setattr(batches, "settle", counting)
    desk = odesk_factory(sink.port, outbound="  connections: 2\n")
    sender = Running(desk)
    try:
        _rounds(desk, sender, sink, 3)
    finally:
        sender.end()
    assert sum(alone) == 6  # all by the settler, once each
    assert _states(desk) == [("sent", 1)] * 6  # and the claims, made alone, took every row
    assert len(sink.received) == 6
