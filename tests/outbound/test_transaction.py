"""The sender's own mail transaction (outbound/transaction.py) on loopback: the bytes on the
wire are those aiosmtplib's sendmail wrote; MAIL, RCPT and DATA go in one write when the
relay offers PIPELINING and in lockstep when it does not; replies of many lines or split
over reads are read whole; a relay that breaks, stalls, closes (421) or talks nonsense costs
a retry and the connection, never a lost or doubled mail."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select, update

from maildesk.outbound import transaction
from maildesk.outbound.outbox import Claimed
from maildesk.outbound.relay import Relay
from maildesk.outbound.sender import _NO_SMTPUTF8, _send_one, send_due
from maildesk.store.models import OutboxMail
from tests.conftest import simple_mail
from tests.outbound.conftest import Sink, SinkHandler, outbound_desk, send

SENDER = "bounces+7@example.com"
TO = "carol@example.org"
REPLIES = {b"MAIL": b"250 2.1.0 Ok\r\n", b"RCPT": b"250 2.1.5 Ok\r\n",
           b"DATA": b"354 End data with <CR><LF>.<CR><LF>\r\n", b"END": b"250 2.0.0 Ok\r\n"}


@dataclass
class Recorder:
    """A relay that records each transaction's bytes, MAIL to the final dot, as received.
    `batch`: MAIL and RCPT are answered only once DATA came (a client that waits for each
    reply hangs). Without PIPELINING offered it notes a command sent before its turn."""

    extensions: list[str] = field(default_factory=lambda: ["SIZE 10485760", "8BITMIME"])
    batch: bool = False
    dribble: bool = False  # replies written a byte at a time
    replies: dict[bytes, bytes] = field(default_factory=lambda: dict(REPLIES))
    stall: bool = False  # the final reply never comes
    drop: bool = False  # the connection is closed where the final reply was due
    transcripts: list[bytes] = field(default_factory=list)
    commands: list[bytes] = field(default_factory=list)
    early: list[bytes] = field(default_factory=list)  # commands sent before their turn

    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.server.close()
        for writer in self.writers:
            writer.close()
        await asyncio.sleep(0.01)  # the transports close

    async def _say(self, writer: asyncio.StreamWriter, text: bytes) -> None:
        for piece in ([text[i:i + 1] for i in range(len(text))] if self.dribble else [text]):
            writer.write(piece)
            await writer.drain()

    async def _next(self, reader: asyncio.StreamReader, pending: list[bytes]) -> bytes:
        return pending.pop(0) if pending else await reader.readline()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        await self._say(writer, b"220 recorder ESMTP\r\n")
        current: list[bytes] = []
        held: list[bytes] = []
        pending: list[bytes] = []  # read early, handled in turn
        lockstep = not any(e.upper() == "PIPELINING" for e in self.extensions)
        while line := await self._next(reader, pending):
            verb = line[:4].upper()
            self.commands.append(line)
            if verb == b"EHLO":
                lines = ["recorder.example", *self.extensions]
                await self._say(writer, "".join(f"250{'-' if n < len(lines) - 1 else ' '}{x}\r\n"
                                                for n, x in enumerate(lines)).encode())
                continue
            if verb == b"QUIT":
                await self._say(writer, b"221 Bye\r\n")
                break
            if verb not in REPLIES:  # RSET, NOOP
                current = []
                await self._say(writer, b"250 2.0.0 Ok\r\n")
                continue
            current.append(line)
            if lockstep and verb != b"DATA" and not pending:
                try:
                    pending.append(await asyncio.wait_for(reader.readline(), 0.05))
                    self.early.append(pending[-1])
                except TimeoutError:
                    pass
            reply = self.replies[verb]
            if self.batch and verb != b"DATA":
                held.append(reply)
                continue
            for text in [*held, reply]:
                await self._say(writer, text)
            held = []
            if verb == b"DATA" and reply.startswith(b"354"):
                while (data := await reader.readline()) not in (b".\r\n", b""):
                    current.append(data)
                if not data:
                    break
                self.transcripts.append(b"".join([*current, data]))
                current = []
                if self.drop:
                    writer.close()
                    return
                if self.stall:
                    await asyncio.sleep(30)
                await self._say(writer, self.replies[b"END"])
        writer.close()


MESSAGES = [
    b"Subject: plain\r\n\r\nHello\r\n",
    b"Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nmiddle . dot\r\n. \r\nend.\r\n",
    b".Subject: a first dot\r\n\r\nx\r\n",
    b"Subject: bare LF\n\nline\nanother\n.dot after LF\n",
    b"Subject: bare CR\r\rx\rend",
    b"Subject: mixed\r\n\nx\r.y\r\n",
    b"Subject: no last line end\r\n\r\nlast",
    b"",
    b"Subject: big\r\n\r\n" + b"0123456789 .abcdefghij\r\n.\r\n" * 40000,
]


async def _aiosmtplib_sends(port: int, mails: list[tuple[str, list[str], bytes, list[str]]]
                            ) -> None:
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10, start_tls=False)
    await smtp.connect()
    for sender, to, raw, options in mails:
        await smtp.sendmail(sender, to, raw, mail_options=options)
    await smtp.quit()


async def _our_sends(port: int, mails: list[tuple[str, list[str], bytes, list[str]]]) -> None:
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10, start_tls=False)
    await smtp.connect()
    for sender, to, raw, options in mails:
        assert await transaction.send(smtp, sender, to, raw, options) == {}
    await smtp.quit()


@pytest.mark.parametrize("extensions", [
    ["SIZE 10485760", "8BITMIME"], ["8BITMIME"], ["SIZE 10485760", "PIPELINING", "SMTPUTF8"]])
def test_the_bytes_on_the_wire_are_those_aiosmtplib_sent(extensions: list[str]) -> None:
    mails = [(SENDER, [TO], raw, []) for raw in MESSAGES]
    mails.append((SENDER, [TO, "alice@example.com"], MESSAGES[1], []))
    if "SMTPUTF8" in extensions:
        mails.append(("bounces+8@example.com", ["josé@xn--bcher-kva.example"],
                      "To: josé@xn--bcher-kva.example\r\n\r\nhi\r\n".encode(), ["SMTPUTF8"]))

    async def both() -> tuple[Recorder, Recorder]:
        theirs, ours = Recorder(list(extensions)), Recorder(list(extensions))
        await _aiosmtplib_sends(await theirs.start(), mails)
        await _our_sends(await ours.start(), mails)
        await theirs.stop()
        await ours.stop()
        return theirs, ours

    theirs, ours = asyncio.run(both())
    assert len(ours.transcripts) == len(mails)
    assert ours.transcripts == theirs.transcripts
    assert ours.early == []  # lockstep unless offered: nothing sent before its reply
    if "SIZE 10485760" in extensions:
        assert ours.transcripts[0].startswith(b"MAIL FROM:<bounces+7@example.com> size=")


def test_pipelining_sends_the_envelope_in_one_go() -> None:
    """The recorder answers MAIL and RCPT only after DATA: a client waiting for each reply
    would time out here."""
    async def run() -> Recorder:
        recorder = Recorder(["PIPELINING", "SIZE 1000000"], batch=True)
        port = await recorder.start()
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10, start_tls=False)
        await smtp.connect()
        async with asyncio.timeout(5):
            for n in range(3):
                assert await transaction.send(smtp, SENDER, [TO, "b@example.org"],
                                              MESSAGES[n], []) == {}
            assert smtp.is_connected
            await smtp.noop()  # aiosmtplib has its connection back, in step
        await smtp.quit()
        await recorder.stop()
        return recorder

    recorder = asyncio.run(run())
    assert len(recorder.transcripts) == 3
    assert recorder.transcripts[2].startswith(b"MAIL FROM:<bounces+7@example.com> size=")


@pytest.mark.parametrize("pipelining", [False, True])
def test_replies_of_many_lines_and_split_over_reads(pipelining: bool) -> None:
    async def run() -> tuple[Recorder, list[BaseException | dict[str, object]]]:
        recorder = Recorder(["PIPELINING"] if pipelining else [], dribble=True)
        recorder.replies[b"MAIL"] = b"250-2.1.0 first\r\n250-second\r\n250 2.1.0 Ok\r\n"
        port = await recorder.start()
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10, start_tls=False)
        await smtp.connect()
        outcomes: list[BaseException | dict[str, object]] = []
        outcomes.append(await transaction.send(smtp, SENDER, [TO], MESSAGES[0], []))
        recorder.replies[b"RCPT"] = b"550-5.1.1 no such\r\n550 5.1.1 user here\r\n"
        try:
            await transaction.send(smtp, SENDER, [TO], MESSAGES[0], [])
        except aiosmtplib.SMTPRecipientsRefused as exc:
            outcomes.append(exc)
        await smtp.rset()  # as the sender does after a refusal
        recorder.replies[b"RCPT"] = REPLIES[b"RCPT"]
        outcomes.append(await transaction.send(smtp, SENDER, [TO], MESSAGES[1], []))
        await smtp.quit()
        await recorder.stop()
        return recorder, outcomes

    recorder, (first, refused, last) = asyncio.run(run())
    assert first == {} and last == {}
    assert isinstance(refused, aiosmtplib.SMTPRecipientsRefused)
    [why] = refused.recipients
    assert (why.code, why.message, why.recipient) == (550, "5.1.1 no such\n5.1.1 user here", TO)
    # sent: the first and the last; when pipelining, the recorder said 354 after the refusal
    # and the client ended that empty message at once (RFC 2920 3.1)
    assert recorder.transcripts[0].endswith(MESSAGES[0] + b".\r\n")
    assert recorder.transcripts[-1].endswith(MESSAGES[1].replace(b"\r\n.", b"\r\n..") + b".\r\n")
    assert len(recorder.transcripts) == (3 if pipelining else 2)
    if pipelining:
        assert recorder.transcripts[1].endswith(b"DATA\r\n.\r\n")


def _row(raw: bytes = MESSAGES[0], to: str = TO) -> Claimed:
    return Claimed(1, None, "autoreply", SENDER, [to], raw, 0, datetime.now(UTC))


@dataclass
class Case:
    recorder: Recorder
    expect: str  # the AttemptResult's result
    error: str  # in its error
    usable: bool  # the connection is handed on afterwards


def _cases() -> Iterator[tuple[str, Case]]:
    for pipelining in (False, True):
        ext = ["PIPELINING"] if pipelining else []
        tag = "pipelined" if pipelining else "lockstep"
        yield f"sent-{tag}", Case(Recorder(ext), "sent", "", True)
        yield f"stalls-{tag}", Case(Recorder(ext, stall=True), "retry", "Timed out", False)
        yield f"drops-{tag}", Case(Recorder(ext, drop=True), "retry", "Disconnected", False)
        for verb, reply, expect, usable in [
                (b"MAIL", b"421 4.3.2 Shutting down\r\n", "retry", False),
                (b"RCPT", b"421 4.3.2 Shutting down\r\n", "retry", False),
                (b"DATA", b"421 4.3.2 Shutting down\r\n", "retry", False),
                (b"END", b"421 4.3.2 Shutting down\r\n", "retry", False),
                (b"MAIL", b"553 5.7.1 Sender refused\r\n", "failed", True),
                (b"RCPT", b"450 4.2.0 Greylisted\r\n", "retry", True),
                (b"DATA", b"554 5.5.1 No valid recipients\r\n", "failed", True),
                (b"END", b"451 4.3.0 Try again later\r\n", "retry", True),
                (b"END", b"552 5.3.4 Message too big\r\n", "failed", True),
                (b"MAIL", b"hello there\r\n", "retry", False)]:
            recorder = Recorder(list(ext))
            recorder.replies[verb] = reply
            name = f"{verb.decode()}-{reply[:3].decode()}-{tag}"
            error = reply[:3].decode() if reply[:1].isdigit() else "Malformed"
            yield name, Case(recorder, expect, error, usable)


CASES = dict(_cases())


@pytest.mark.parametrize("name", list(CASES))
def test_each_answer_of_the_relay_has_its_outcome(name: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transaction, "TIMEOUT", 0.5)
    case = CASES[name]

    async def run() -> tuple[str, str, bool, bool]:
        port = await case.recorder.start()
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=5, start_tls=False)
        await smtp.connect()
        outcome = await _send_one(smtp, _row())
        usable = smtp.is_connected
        if usable:  # the next mail goes over the same connection
            case.recorder.replies.update(REPLIES)
            assert (await _send_one(smtp, _row(MESSAGES[1]))).result == "sent"
            await smtp.quit()
        else:
            smtp.close()
        await case.recorder.stop()
        return outcome.result, outcome.error or "", usable, smtp.is_connected

    result, error, usable, still = asyncio.run(run())
    assert (result, usable) == (case.expect, case.usable), error
    assert case.error in error
    assert not still


def test_smtputf8_refused_before_anything_is_sent() -> None:
    async def run() -> tuple[str, str, Recorder]:
        recorder = Recorder(["PIPELINING", "SIZE 1000000"])
        port = await recorder.start()
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=5, start_tls=False)
        await smtp.connect()
        refused = await _send_one(smtp, _row(to="josé@xn--bcher-kva.example"))
        sent = await _send_one(smtp, _row())
        await smtp.quit()
        await recorder.stop()
        return refused.result + " " + (refused.error or ""), sent.result, recorder

    refused, sent, recorder = asyncio.run(run())
    assert refused == f"failed {_NO_SMTPUTF8}" and sent == "sent"
    assert [c[:4] for c in recorder.commands] == [b"EHLO", b"MAIL", b"RCPT", b"DATA", b"QUIT"]


@dataclass
class PipeliningHandler(SinkHandler):
    """The tests' relay handler, with PIPELINING in its EHLO (aiosmtpd reads commands from
    its stream one by one, so what came in one write waits in the buffer, in order)."""

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname  # this hook replaces aiosmtpd's own bookkeeping
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


@pytest.fixture
def pipelining_sink() -> Iterator[Sink]:
    relay = Sink()
    relay.handler = PipeliningHandler()
    relay.start()
    yield relay
    relay.stop()


def test_aiosmtpd_takes_pipelined_transactions(tmp_path: Path, pipelining_sink: Sink) -> None:
    """Refusals and a temporary failure over a pipelining aiosmtpd keep their outcomes,
    and each mail arrives whole, once."""
    desk = outbound_desk(tmp_path / "desk", pipelining_sink.port,
                         outbound="  retry_first: 0.05s\n")
    pipelining_sink.handler.refuse = {"carol@example.org"}
    pipelining_sink.handler.tempfail_data = 1
    body = "Hello,\n.\n.. a line of dots\n.the printer is on fire.\n"
    desk.ingest(simple_mail(body=body))
    assert send(desk) == 0
    app = desk.app()
    try:
        with app.db.transaction() as s:
            s.execute(update(OutboxMail).values(next_attempt_at=OutboxMail.created_at))
        with app.db.reading() as s:
            states = {k: v for k, v in s.execute(select(OutboxMail.kind, OutboxMail.state))}
        assert states == {"autoreply": "failed", "notification": "queued"}
        assert send(desk) == 1
    finally:
        app.close()
    [note] = pipelining_sink.received
    assert note.rcpt_tos == ["alice@example.com"] and b"Printer on fire" in note.data
    assert len(pipelining_sink.to("carol@example.org")) == 0


def test_a_partly_refused_mail_goes_to_the_others(pipelining_sink: Sink) -> None:
    pipelining_sink.handler.refuse = {"nobody@example.org"}

    async def run() -> dict[str, object]:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=pipelining_sink.port, timeout=5,
                               start_tls=False)
        await smtp.connect()
        refused = await transaction.send(smtp, SENDER, ["nobody@example.org", TO],
                                         MESSAGES[1], [])
        assert smtp.supports_extension("pipelining")
        await smtp.quit()
        return dict(refused)

    refused = asyncio.run(run())
    assert list(refused) == ["nobody@example.org"]
    [got] = pipelining_sink.received
    assert got.rcpt_tos == [TO] and got.data == MESSAGES[1]


def test_starttls_and_auth_then_pipelined_transactions(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """aiosmtplib still does STARTTLS and AUTH (outbound/relay.py); the transactions then
    run over the TLS transport, two passes over the one connection."""
    cert, key, password = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "relay.pw"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    password.write_text("s3cret\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the relay's certificate is trusted
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    logins: list[tuple[str, bool, bool]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      data: Any) -> AuthResult:
        good = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"maildesk", b"s3cret")
        logins.append((mechanism, good, session.ssl is not None))
        return AuthResult(success=good)

    relay = Sink()
    relay.handler = PipeliningHandler()
    relay.controller = Controller(relay.handler, hostname="127.0.0.1", port=relay.port,
                                  tls_context=tls, require_starttls=True, auth_required=True,
                                  authenticator=authenticator)
    relay.controller.start()
    try:
        desk = outbound_desk(tmp_path / "desk", relay.port, outbound=(
            f"  starttls: true\n  username: maildesk\n  password_file: {password}\n"))

        async def passes() -> list[int]:
            app, pool = desk.app(), Relay()
            try:
                sent = []
                for n in range(2):
                    desk.ingest(simple_mail(subject=f"tls {n}", message_id=f"tls-{n}@x.example"))
                    sent.append((await send_due(app, relay=pool, connections=1)).sent)
                return sent
            finally:
                await pool.close()
                app.close()

        assert asyncio.run(passes()) == [2, 2]
    finally:
        relay.stop()
    assert len(relay.received) == 4 and len({r.peer for r in relay.received}) == 1
    assert logins and all(good and over_tls for _, good, over_tls in logins)


def test_the_deadline_timer_of_a_transaction() -> None:
    """One timer per connection's protocol instead of `asyncio.timeout` per mail (issue
    20): past the deadline `reply` raises the read timeout; a deadline is only in force
    from `arm` to `disarm`; an earlier deadline replaces a later timer; `done` drops it."""
    from maildesk.outbound.transaction import _Replies

    async def run() -> None:
        loop = asyncio.get_running_loop()
        replies = _Replies(loop)
        replies.arm(0.05)
        with pytest.raises(aiosmtplib.SMTPReadTimeoutError, match="Timed out"):
            await replies.reply()

        replies = _Replies(loop)
        replies.arm(0.05)
        replies.disarm()  # handed on to the next mail: the timer stays, and finds no deadline
        await asyncio.sleep(0.1)
        assert replies.broken is None
        replies.arm(10)
        replies.data_received(b"250 2.0.0 Ok\r\n")
        assert (await replies.reply()).code == 250

        replies.arm(0.05)  # earlier than the armed 10 s: that timer goes
        async with asyncio.timeout(2):
            with pytest.raises(aiosmtplib.SMTPReadTimeoutError):
                await replies.reply()

        replies = _Replies(loop)
        replies.arm(10)
        replies.disarm(done=True)
        assert replies._timer is None

    asyncio.run(run())


def test_a_connection_keeps_its_reply_protocol_from_mail_to_mail() -> None:
    """One `_Replies` per connection, its deadline timer with it (issue 20: one a mail cost
    ~5 us of the event loop): the next mail, a refused one's too, reads its replies with
    the same; a new connection (a new transport) gets a new one; aiosmtplib has its own
    protocol back between transactions (RSET works)."""
    async def run() -> None:
        recorder = Recorder(extensions=["SIZE 10485760", "PIPELINING"])
        port = await recorder.start()
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10, start_tls=False)
        await smtp.connect()
        assert await transaction.send(smtp, SENDER, [TO], MESSAGES[0], []) == {}
        kept = transaction._kept[smtp]
        timer = kept._timer
        assert timer is not None and kept.clean()
        assert await transaction.send(smtp, SENDER, [TO], MESSAGES[1], []) == {}
        assert transaction._kept[smtp] is kept and kept._timer is timer  # not made again
        recorder.replies[b"RCPT"] = b"550 5.1.1 no such user\r\n"
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await transaction.send(smtp, SENDER, [TO], MESSAGES[0], [])
        assert transaction._kept[smtp] is kept and kept.clean()
        await smtp.rset()  # aiosmtplib's protocol reads this one
        recorder.replies[b"RCPT"] = REPLIES[b"RCPT"]
        smtp.close()
        await smtp.connect()
        assert await transaction.send(smtp, SENDER, [TO], MESSAGES[1], []) == {}
        assert transaction._kept[smtp] is not kept
        assert len(recorder.transcripts) == 4  # the refused one's empty data among them
        await smtp.quit()
        await recorder.stop()

    asyncio.run(run())
