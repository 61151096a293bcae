"""RFC 2920 pipelining across mails (issue 20): when the next row is at hand as a mail's
final dot goes out, its MAIL, RCPT and DATA go in the same write, over a relay offering
PIPELINING. The lane (outbound/lanes.py) with the sender's own send, against a scripted
relay: every mail's bytes are those sent one at a time; each reply is charged to its own
mail (a refusal of the next mail's commands never to the one before, a 4xx/5xx after the
dot never to the next); a relay closing, dropping or stalling after the dot costs the mail
in flight a retry and the next one nothing (it goes anew over a new connection)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import aiosmtplib
import pytest

from maildesk.outbound import transaction
from maildesk.outbound.lanes import Ahead, Flow, signed
from maildesk.outbound.outbox import AttemptResult, Claimed
from maildesk.outbound.sender import _describe, _send, _send_one

APP = SimpleNamespace(secret=None)  # what `signed` reads of the app: VERP without a signature
REPLIES = {b"MAIL": b"250 2.1.0 Ok\r\n", b"RCPT": b"250 2.1.5 Ok\r\n",
           b"DATA": b"354 End data with <CR><LF>.<CR><LF>\r\n", b"END": b"250 2.0.0 Ok\r\n"}
BODIES = [b"Subject: one\r\n\r\nHello\r\n",
          b"Subject: two\r\n\r\n.\r\n..\r\n.leading\r\n",
          b".Subject: three\r\n\r\nx\r\n",
          b"Subject: four\r\n\r\n" + b"0123456789 .abcdefghij\r\n.\r\n" * 4000]


@dataclass
class Script:
    """A relay offering PIPELINING whose replies to the n-th transaction (counted by its
    MAIL, from 0) may differ from `REPLIES`: `plan[n][verb]`; b"DROP" closes the
    connection instead, b"STALL" never answers. It records what it read, chunk by chunk."""

    plan: dict[int, dict[bytes, bytes]] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    commands: list[bytes] = field(default_factory=list)
    transcripts: list[bytes] = field(default_factory=list)  # MAIL to the dot, as read
    mails: int = 0
    connections: int = 0

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _Connection(self), "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])


class _Connection(asyncio.Protocol):
    def __init__(self, script: Script) -> None:
        self.script, self.buffer = script, b""
        self.current: list[bytes] = []
        self.data: list[bytes] | None = None
        self.stalled = False  # nothing more is read nor answered

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.script.connections += 1
        transport.write(b"220 scripted ESMTP\r\n")

    def data_received(self, chunk: bytes) -> None:
        self.script.chunks.append(chunk)
        self.buffer += chunk
        while b"\n" in self.buffer and not self.transport.is_closing() and not self.stalled:
            line, self.buffer = self.buffer.split(b"\n", 1)
            self._line(line + b"\n")

    def _line(self, line: bytes) -> None:
        if self.data is not None:
            self.data.append(line)
            if line == b".\r\n":
                self.script.transcripts.append(b"".join(self.current + self.data))
                self.current, self.data = [], None
                self._say(b"END")
            return
        verb = line[:4].upper()
        self.script.commands.append(line)
        if verb == b"EHLO":
            self.transport.write(b"250-scripted\r\n250-PIPELINING\r\n250 SIZE 10000000\r\n")
        elif verb == b"QUIT":
            self.transport.write(b"221 Bye\r\n")
            self.transport.close()
        elif verb not in REPLIES:  # RSET, NOOP
            self.current = []
            self.transport.write(b"250 2.0.0 Ok\r\n")
        else:
            if verb == b"MAIL":
                self.script.mails += 1
            self.current.append(line)
            if self._say(verb).startswith(b"354"):
                self.data = []

    def _say(self, verb: bytes) -> bytes:
        reply = self.script.plan.get(self.script.mails - 1, {}).get(verb, REPLIES[verb])
        if reply == b"DROP":
            self.transport.close()
        elif reply == b"STALL":
            self.stalled = True
        else:
            self.transport.write(reply)
            if reply.startswith(b"421"):
                self.transport.close()
        return reply


def _rows(n: int) -> list[Claimed]:
    return [Claimed(i, None, "autoreply", "bounces@example.com", [f"to{i}@example.org"],
                    BODIES[(i - 1) % len(BODIES)], 0, datetime.now(UTC))
            for i in range(1, n + 1)]


class _Settler:
    group = 1

    def __init__(self) -> None:
        self.outcomes: list[AttemptResult] = []

    def submit(self, outcomes: list[AttemptResult]) -> asyncio.Future[None]:
        self.outcomes.extend(outcomes)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def wait(self, future: asyncio.Future[None]) -> None:
        await future

    async def drain(self) -> None:
        return None


class _Relay:
    def __init__(self) -> None:
        self.given: list[aiosmtplib.SMTP] = []

    def give(self, smtp: aiosmtplib.SMTP) -> None:
        self.given.append(smtp)

    async def close(self) -> None:
        for smtp in self.given:
            if smtp.is_connected:
                await smtp.quit()


async def _lane(script: Script, rows: list[Claimed], *, stop: asyncio.Event | None = None
                ) -> dict[int, tuple[str, str]]:
    """`rows` over one lane (all ready at once, then the end) to `script`: each row's
    result and error."""
    port = await script.start()

    async def connect(again: bool = False) -> aiosmtplib.SMTP:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=5, start_tls=False)
        await smtp.connect()
        return smtp

    relay = _Relay()
    flow = Flow(lambda: APP, "w", relay, stop, _send, _describe,  # type: ignore[arg-type]
                connections=1)
    settler = _Settler()
    flow.settler = settler  # type: ignore[assignment]
    flow._connect = connect  # type: ignore[method-assign]
    for row in rows:
        flow.ready.put_nowait(row)
    flow.ready.put_nowait(None)  # taken behind the last dot: the lane ends after that mail
    async with asyncio.timeout(20):
        await flow.lanes[0]
        await flow.close(own_relay=False)
        await relay.close()
    script.server.close()
    return {o.id: (o.result, o.error or "") for o in settler.outcomes}


def _alone(rows: list[Claimed]) -> list[bytes]:
    """The transcripts of `rows` sent one at a time, nothing behind a dot."""
    async def run() -> list[bytes]:
        script = Script()
        port = await script.start()
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=5, start_tls=False)
        await smtp.connect()
        for row in rows:
            assert (await _send_one(smtp, signed(APP, row))).result == "sent"
        await smtp.quit()
        script.server.close()
        return script.transcripts

    return asyncio.run(run())


def test_the_next_mail_goes_behind_the_dot_with_the_same_bytes() -> None:
    rows = _rows(6)
    script = Script()
    outcomes = asyncio.run(_lane(script, rows))
    assert outcomes == {r.id: ("sent", "") for r in rows}
    assert script.transcripts == _alone(rows)  # every mail's bytes as sent alone
    assert script.connections == 1
    assert not [c for c in script.commands if c.startswith(b"RSET")]
    # mails 2 to 6 went in the write of the dot before them (the big fourth mail's data in
    # a write of its own: its dot and the fifth's commands may reach the relay split)
    assert sum(c.count(b".\r\nMAIL FROM:<bounces+") for c in script.chunks) >= 4


def test_without_a_next_row_at_hand_the_dot_goes_alone() -> None:
    async def run() -> tuple[AttemptResult, Ahead | None, Script]:
        script = Script()
        port = await script.start()
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=5, start_tls=False)
        await smtp.connect()
        outcome, ahead = await _send(smtp, _rows(1)[0], lambda: None)
        await smtp.noop()  # aiosmtplib has its connection back, in step
        await smtp.quit()
        script.server.close()
        return outcome, ahead, script

    outcome, ahead, script = asyncio.run(run())
    assert outcome.result == "sent" and ahead is None
    assert script.chunks[-3].endswith(b"\r\n.\r\n")


PLANS: dict[str, tuple[dict[int, dict[bytes, bytes]], dict[int, tuple[str, str]], int]] = {
    # the dot's reply is the mail's before it; the next mail goes on, no RSET needed
    "end-451": ({0: {b"END": b"451 4.3.0 Try again later\r\n"}},
                {1: ("retry", "451 4.3.0")}, 1),
    "end-552": ({0: {b"END": b"552 5.3.4 Message too big\r\n"}},
                {1: ("failed", "552 5.3.4")}, 1),
    # the next mail's refused commands are its own
    "mail-553": ({1: {b"MAIL": b"553 5.7.1 Sender refused\r\n",
                      b"DATA": b"503 5.5.1 Error: need MAIL command\r\n"}},
                 {2: ("failed", "553 5.7.1")}, 1),
    "rcpt-450": ({1: {b"RCPT": b"450 4.2.0 Greylisted\r\n",
                      b"DATA": b"554 5.5.1 No valid recipients\r\n"}},
                 {2: ("retry", "450 4.2.0")}, 1),
    "data-451": ({1: {b"DATA": b"451 4.3.0 Not now\r\n"}}, {2: ("retry", "451 4.3.0")}, 1),
    # the relay closing after the dot: that mail is retried, the next one goes anew
    "end-421": ({0: {b"END": b"421 4.3.2 Shutting down\r\n"}},
                {1: ("retry", "421 4.3.2")}, 2),
    "end-drop": ({0: {b"END": b"DROP"}}, {1: ("retry", "Disconnected")}, 2),
    "end-stall": ({0: {b"END": b"STALL"}}, {1: ("retry", "Timed out")}, 2),
    # ... and after the mail's 250: the next one's transaction broke, it is retried
    "mail-421": ({1: {b"MAIL": b"421 4.3.2 Shutting down\r\n"}},
                 {2: ("retry", "421 4.3.2")}, 2),
    "mail-drop": ({1: {b"MAIL": b"DROP"}}, {2: ("retry", "Disconnected")}, 2),
}


@pytest.mark.parametrize("name", list(PLANS))
def test_each_reply_is_charged_to_its_own_mail(name: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transaction, "TIMEOUT", 0.5)
    plan, unlike, connections = PLANS[name]
    rows = _rows(4)
    script = Script(plan)
    outcomes = asyncio.run(_lane(script, rows))
    assert set(outcomes) == {r.id for r in rows}
    for row in rows:
        result, error = outcomes[row.id]
        expect, why = unlike.get(row.id, ("sent", ""))
        assert result == expect and why in error, (row.id, result, error)
    assert script.connections == connections
    sent = [r for r in rows if outcomes[r.id][0] == "sent"]
    ended = [t for t in script.transcripts if t.startswith(b"MAIL")]
    assert [t for t in ended if any(t == a for a in _alone(sent))] == _alone(sent)
    assert any(b".\r\nMAIL FROM:<bounces+2@" in c for c in script.chunks)  # behind dot 1
    refused_envelope = name in ("mail-553", "rcpt-450", "data-451")
    assert len([c for c in script.commands if c.startswith(b"RSET")]) == refused_envelope


def test_a_stop_finishes_the_mail_begun_behind_the_dot() -> None:
    """A stop while the next mail's commands are out: that mail is in flight, it is sent;
    the rows after it are not begun (close hands them back)."""
    async def run() -> tuple[dict[int, tuple[str, str]], Script]:
        stop = asyncio.Event()
        script = Script()
        rows = _rows(4)

        async def send(smtp: aiosmtplib.SMTP, job: Claimed | Ahead, take: Any
                       ) -> tuple[AttemptResult, Ahead | None]:
            done = await _send(smtp, job, take)
            stop.set()  # after the first mail: its next is already begun
            return done

        port = await script.start()

        async def connect(again: bool = False) -> aiosmtplib.SMTP:
            smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=5,
                                   start_tls=False)
            await smtp.connect()
            return smtp

        relay = _Relay()
        flow = Flow(lambda: APP, "w", relay, stop, send, _describe,  # type: ignore[arg-type]
                    connections=1)
        settler = _Settler()
        flow.settler = settler  # type: ignore[assignment]
        flow._connect = connect  # type: ignore[method-assign]
        flow.ready.put_nowait(rows[0])
        # The lane has the first mail on its way: the relay read its MAIL and answered its
        # DATA, and the lane reads that 354 (and sends the dot) in a later turn of the loop
        # than this one (a count of turns, as before, was flaky under load).
        async with asyncio.timeout(10):  # bounded: a lane that never sends fails here
            while script.mails == 0:
                await asyncio.sleep(0)
        for row in rows[1:]:
            flow.ready.put_nowait(row)
        async with asyncio.timeout(10):
            await flow.lanes[0]
        flow.renewing.cancel()
        await relay.close()
        script.server.close()
        return {o.id: (o.result, o.error or "") for o in settler.outcomes}, script

    outcomes, script = asyncio.run(run())
    assert outcomes == {1: ("sent", ""), 2: ("sent", "")}
    assert len(script.transcripts) == 2
