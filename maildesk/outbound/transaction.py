"""One mail transaction with the relay (MAIL, RCPT, DATA and the data) by a small client of
our own, on the connection aiosmtplib opened (issue 20).

aiosmtplib's `sendmail` cost ~0.5 ms CPU per mail here: a `wait_for` and a timer per
command, a regex pass over the whole message for line ends and another for dot-stuffing,
and a round trip per command (its protocol parses one reply per awaited command, so RFC
2920 pipelining cannot go through it). aiosmtplib still connects, greets, does STARTTLS,
AUTH, NOOP, RSET and QUIT (outbound/relay.py); for one transaction `send` sets its own
protocol on the transport and gives aiosmtplib's back at the end.

- One deadline for the whole transaction (`TIMEOUT`, plus time for a big message's bytes)
  instead of one per command.
- When the relay's EHLO offers PIPELINING, MAIL, RCPT and DATA go in one write and their
  replies are read after it (RFC 2920); the data follows the 354 as ever. Else lockstep.
- The bytes on the wire are those `sendmail` writes: `size=` first when the relay offers
  SIZE, the message with CRLF line ends, dot-stuffed, then `.`; a message with CRLF line
  ends only (what maildesk renders) is not copied to be normalised.
- Outcomes are the exceptions `sendmail` raised, so the sender's rules stay as they were;
  a timeout, a lost connection or a reply that is not SMTP close the connection (never
  handed on half-way through a transaction), as does a 421. After a refusal the caller
  says RSET (`sendmail` said it too, so a refused mail was followed by two).
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from typing import cast

import aiosmtplib
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import normalize_message_line_endings
from aiosmtplib.response import SMTPResponse

__all__ = ["TIMEOUT", "greet", "send", "wire_data"]

TIMEOUT = 60.0  # seconds for a transaction; a big message gets more (`_deadline`)
BYTES_PER_SECOND = 1 << 20  # the least transfer rate a big message's deadline allows for
_MAX_LINE = 8192  # a reply line longer than this is not SMTP (aiosmtplib's limit)
_MAX_REPLY = 4 * _MAX_LINE
_UNSAFE = re.compile(r"[\s<>\x00-\x1f\x7f]")  # what never goes in a plain <address>
_ONE_WRITE = 1 << 16  # smaller data goes out with its final dot in one write
_CLOSING = 421  # the relay is closing the connection (RFC 5321 3.8)


class _Replies(asyncio.Protocol):
    """The transport's protocol while a transaction holds it: parses replies, one or many
    lines (`250-...` continues, `250 ...` ends), as they come, several per read."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._buffer = bytearray()
        self._lines: list[bytes] = []  # of a multi-line reply not ended yet
        self._size = 0
        self._replies: deque[SMTPResponse] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.broken: aiosmtplib.SMTPException | None = None

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line, start = bytes(buffer[start:end + 1]), end + 1
            if not self._line(line):
                return
        del buffer[:start]
        if len(buffer) > _MAX_LINE:
            self._fail(aiosmtplib.SMTPResponseException(-1, "Response too long"))
        elif self._replies:
            self._wake()

    def _line(self, line: bytes) -> bool:
        self._size += len(line)
        if not line[:3].isdigit() or line[3:4] not in (b" ", b"-", b"\r", b"\n"):
            text = line.decode("utf-8", errors="ignore")
            self._fail(aiosmtplib.SMTPResponseException(
                -1, f"Malformed SMTP response line: {text}"))
            return False
        if self._size > _MAX_REPLY:
            self._fail(aiosmtplib.SMTPResponseException(-1, "Response too long"))
            return False
        self._lines.append(line[4:].strip(b" \t\r\n"))
        if line[3:4] != b"-":
            text = b"\n".join(self._lines).decode("utf-8", "surrogateescape")
            self._replies.append(SMTPResponse(int(line[:3]), text))
            self._lines, self._size = [], 0
        return True

    def _fail(self, exc: aiosmtplib.SMTPException) -> None:
        if self.broken is None:
            self.broken = exc
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def eof_received(self) -> bool:
        self._fail(aiosmtplib.SMTPServerDisconnected("Unexpected EOF received"))
        return False  # the transport closes

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(aiosmtplib.SMTPServerDisconnected("Connection lost"))

    async def reply(self) -> SMTPResponse:
        """The next reply; raises when the connection broke first."""
        while not self._replies:
            if self.broken is not None:
                raise self.broken
            self._waiter = self._loop.create_future()
            await self._waiter
        return self._replies.popleft()


async def greet(smtp: aiosmtplib.SMTP) -> None:
    """EHLO (HELO when the relay refuses it) unless done: what the relay offers is known
    before a transaction."""
    if smtp.is_ehlo_or_helo_needed:
        try:
            await smtp.ehlo()
        except aiosmtplib.SMTPHeloError:
            if not smtp.is_connected:
                raise
            await smtp.helo()


def wire_data(raw: bytes) -> tuple[bytes, int]:
    """The message as sent after DATA's 354 (CRLF line ends, dot-stuffed; the line with the
    dot that ends it follows) and its size for SIZE (its bytes before dot-stuffing, RFC 1870)."""
    lf = raw.count(b"\n")
    if lf != raw.count(b"\r") or lf != raw.count(b"\r\n") or not raw.endswith(b"\r\n"):
        raw = normalize_message_line_endings(raw)  # a bare CR or LF, or no line end at last
    size = len(raw)
    if b"\n." in raw:
        raw = raw.replace(b"\r\n.", b"\r\n..")
    if raw[:1] == b".":
        raw = b"." + raw
    return raw, size


def _quote(address: str) -> str:
    # A plain address (as render.check_address returns them) is its own parse.
    if address.isascii() and not _UNSAFE.search(address):
        return f"<{address}>"
    return quote_address(address)  # as aiosmtplib quotes it; raises on an unsafe one


def _deadline(size: int) -> float:
    return TIMEOUT + size / BYTES_PER_SECOND


async def send(smtp: aiosmtplib.SMTP, sender: str, recipients: list[str], raw: bytes,
               options: list[str]) -> dict[str, SMTPResponse]:
    """Send one mail over `smtp` (connected, logged in); the recipients refused while
    others were accepted, as `aiosmtplib.SMTP.sendmail` returns them. Raises as it does:
    SMTPNotSupported before MAIL (SMTPUTF8 not offered; nothing sent), SMTPSenderRefused,
    SMTPRecipientsRefused (every recipient), SMTPDataError; SMTPServerDisconnected,
    SMTPReadTimeoutError or a reply that is not SMTP with the connection closed."""
    if not recipients:
        raise aiosmtplib.SMTPRecipientsRefused([])
    await greet(smtp)
    utf8 = any(o.upper() == "SMTPUTF8" for o in options)
    if utf8 and not smtp.supports_extension("smtputf8"):
        raise aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported by this server")
    data, size = wire_data(raw)
    if smtp.supports_extension("size"):
        options = [f"size={size}", *options]
    encoding = "utf-8" if utf8 else "ascii"
    tail = b"".join(b" " + o.encode("ascii") for o in options) + b"\r\n"
    commands = [b"MAIL FROM:" + _quote(sender).encode(encoding) + tail]
    commands += [b"RCPT TO:" + _quote(r).encode(encoding) + b"\r\n" for r in recipients]
    commands.append(b"DATA\r\n")
    transport, theirs = smtp.transport, smtp.protocol
    if transport is None or theirs is None or transport.is_closing():
        smtp.close()
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    ours = _Replies(asyncio.get_running_loop())
    transport.set_protocol(ours)
    in_step = False  # every reply asked for was read: aiosmtplib may take the connection back
    try:
        async with asyncio.timeout(_deadline(len(data))):
            refused = await _transact(ours, cast(asyncio.WriteTransport, transport), commands,
                                      data, sender, recipients,
                                      smtp.supports_extension("pipelining"))
        in_step = True
        return refused
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        in_step = ours.broken is None  # refused, or a reply that was not SMTP
        raise
    except TimeoutError as exc:
        if isinstance(exc, aiosmtplib.SMTPException):
            raise
        raise aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response") from None
    finally:
        if in_step and not transport.is_closing():
            transport.set_protocol(theirs)
        else:  # broken, timed out, cancelled half-way: never handed on
            smtp.close()


async def _transact(replies: _Replies, transport: asyncio.WriteTransport,
                    commands: list[bytes], data: bytes, sender: str, recipients: list[str],
                    pipelining: bool) -> dict[str, SMTPResponse]:
    write = transport.write
    got: list[SMTPResponse] = []

    async def answer() -> SMTPResponse:
        reply = await replies.reply()
        if reply.code == _CLOSING:  # the relay ends the connection; `send` drops it
            transport.close()
            replies.broken = aiosmtplib.SMTPServerDisconnected("closing")
        return reply

    if pipelining:
        write(b"".join(commands))
    for n, command in enumerate(commands):
        if not pipelining:
            if n and got[0].code != 250:
                break  # MAIL refused: no RCPT
            if n == len(commands) - 1 and all(r.code not in (250, 251) for r in got[1:]):
                break  # every recipient refused: no DATA
            write(command)
        got.append(reply := await answer())
        if reply.code == _CLOSING:
            break
    mail, answered = got[0], got[1:1 + len(recipients)]
    refused = [aiosmtplib.SMTPRecipientRefused(r.code, r.message, to)
               for to, r in zip(recipients, answered, strict=False) if r.code not in (250, 251)]
    go = mail.code == 250 and len(answered) == len(recipients) and len(refused) < len(answered)
    start = got[-1] if len(got) == len(commands) else None  # DATA's reply
    if start is not None and start.code == 354:
        if not go:  # 354 though nothing may be sent (RFC 2920 3.1): end an empty message
            write(b".\r\n")
            await answer()
        else:
            if len(data) < _ONE_WRITE:
                write(data + b".\r\n")
            else:  # not copied once more to append the dot
                write(data)
                write(b".\r\n")
            end = await answer()
            if end.code != 250:
                raise aiosmtplib.SMTPDataError(end.code, end.message)
            return {r.recipient: SMTPResponse(r.code, r.message) for r in refused}
    if mail.code != 250:
        raise aiosmtplib.SMTPSenderRefused(mail.code, mail.message, sender)
    if refused and (len(refused) == len(answered) or len(answered) < len(recipients)):
        raise aiosmtplib.SMTPRecipientsRefused(refused)
    if start is None:  # a 421 cut the envelope short
        raise aiosmtplib.SMTPResponseException(got[-1].code, got[-1].message)
    raise aiosmtplib.SMTPDataError(start.code, start.message)
