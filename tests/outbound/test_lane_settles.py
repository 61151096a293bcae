"""A lane's settles (issue 20): before a mail goes out, the settle of the mail before the
last is committed, so a crash resends at most two mails per connection; a lane with
nothing more to send waits for no commit, and leaves its outcomes to the next claim's."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from maildesk.outbound.lanes import Ahead, Flow
from maildesk.outbound.outbox import AttemptResult, Claimed


class _Settler:
    """Records submits and waits; a wait is the commit the lane asks for."""

    def __init__(self, events: list[tuple[str, int]]) -> None:
        self.events = events
        self.group = 1
        self.ids: dict[int, int] = {}  # id(future) -> row

    def submit(self, outcomes: list[AttemptResult]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ids[id(future)] = outcomes[0].id
        return future

    async def wait(self, future: asyncio.Future[None]) -> None:
        self.events.append(("commit", self.ids[id(future)]))
        if not future.done():
            future.set_result(None)
        await future

    async def drain(self) -> None:
        return None


class _Relay:
    def give(self, smtp: Any) -> None:
        pass

    async def close(self) -> None:
        pass


class _SMTP:
    is_connected = True

    def close(self) -> None:
        pass


def _rows(n: int) -> list[Claimed]:
    return [Claimed(i, None, "notification", "", [f"a{i}@example.org"], b"x\r\n", 0,
                    datetime.now(UTC)) for i in range(1, n + 1)]


async def _lane(n: int, pipelined: bool = False
                ) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(events before the flow closes, events after) for `n` rows over one lane;
    `pipelined`: each send takes the next ready row behind its dot (RFC 2920), a "send"
    is then that row's data and dot going out."""
    events: list[tuple[str, int]] = []

    async def send(smtp: Any, job: Claimed | Ahead, take: Any
                   ) -> tuple[AttemptResult, Ahead | None]:
        row = job.row if isinstance(job, Ahead) else job
        events.append(("send", row.id))
        await asyncio.sleep(0)
        following = take() if pipelined else None
        return AttemptResult(row.id, "sent"), (Ahead(following, "begun") if following else None)

    async def connect(again: bool = False) -> Any:
        return _SMTP()

    flow = Flow(lambda: None, "w", _Relay(), None, send, str,  # type: ignore[arg-type]
                connections=1)
    flow.settler = _Settler(events)  # type: ignore[assignment]
    flow._connect = connect  # type: ignore[method-assign]
    for row in _rows(n):
        flow.ready.put_nowait(row)
    for _ in range(50):  # the lane sends what it has, then waits for more
        await asyncio.sleep(0)
    sent = list(events)
    await flow.close(own_relay=False)
    return sent, events[len(sent):]


@pytest.mark.parametrize("pipelined", [False, True])
def test_a_lane_commits_the_one_before_the_last_before_it_sends(pipelined: bool) -> None:
    sent, closing = asyncio.run(_lane(4, pipelined))
    assert sent == [("send", 1), ("send", 2), ("commit", 1), ("send", 3),
                    ("commit", 2), ("send", 4)]  # never more than two mails not noted
    assert closing == [("commit", 3), ("commit", 4)]


@pytest.mark.parametrize("pipelined", [False, True])
def test_a_lane_with_nothing_more_to_send_waits_for_no_commit(pipelined: bool) -> None:
    sent, closing = asyncio.run(_lane(2, pipelined))
    assert sent == [("send", 1), ("send", 2)]  # their settles ride on the next claim
    assert closing == [("commit", 1), ("commit", 2)]


def test_a_row_taken_behind_a_send_that_broke_is_sent_anew() -> None:
    """A send that raised (a bug) after taking the next row: that row is not lost, the
    lane sends it anew over a new connection; the broken one's lease runs out."""
    async def run() -> tuple[list[tuple[str, object]], set[int]]:
        events: list[tuple[str, object]] = []

        async def send(smtp: Any, job: Claimed | Ahead, take: Any
                       ) -> tuple[AttemptResult, Ahead | None]:
            row = job.row if isinstance(job, Ahead) else job
            events.append(("ahead" if isinstance(job, Ahead) else "send", row.id))
            following = take()
            if row.id == 1:
                raise RuntimeError("a bug")
            return AttemptResult(row.id, "sent"), (Ahead(following, "begun") if following
                                                   else None)

        async def connect(again: bool = False) -> Any:
            events.append(("connect", None))
            return _SMTP()

        flow = Flow(lambda: None, "w", _Relay(), None, send, str,  # type: ignore[arg-type]
                    connections=1)
        flow.settler = _Settler([])  # type: ignore[assignment]
        flow._connect = connect  # type: ignore[method-assign]
        rows = _rows(2)
        flow.held.update(r.id for r in rows)
        for row in rows:
            flow.ready.put_nowait(row)
        for _ in range(50):
            await asyncio.sleep(0)
        await flow.close(own_relay=False)
        return events, flow.held

    events, held = asyncio.run(run())
    assert events == [("connect", None), ("send", 1), ("connect", None), ("send", 2)]
    assert held == {2}  # the second is settled by the (recording) settler, not discarded
