"""One mail transaction with the relay (MAIL, RCPT, DATA and the data) by a small client of
our own, on the connection aiosmtplib opened (issue 20).

aiosmtplib's `sendmail` cost ~0.5 ms CPU per mail here: a `wait_for` and a timer per
command, a regex pass over the whole message for line ends and another for dot-stuffing,
and a round trip per command (its protocol parses one reply per awaited command, so RFC
2920 pipelining cannot go through it). aiosmtplib still connects, greets, does STARTTLS,
AUTH, NOOP, RSET and QUIT (outbound/relay.py); `send` sets our protocol (one kept per
connection) on the transport for a transaction and gives aiosmtplib's back at the end.

- One deadline for the whole transaction (`TIMEOUT`, plus time for a big message's bytes)
  instead of one per command.
- When the relay's EHLO offers PIPELINING, MAIL, RCPT and DATA go in one write and their
  replies are read after it (RFC 2920); the data follows the 354 as ever. Else lockstep.
  When the next mail is at hand as the final dot goes out (`Behind`), its MAIL, RCPT and
  DATA go in the dot's write: one round trip a mail instead of two. The dot's reply is
  read first and is this mail's; the next mail's replies wait (`Started`) for its own
  `carry`, which charges them to it. When the connection ends before the dot's reply, the
  next mail was not begun and is sent anew.
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
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import aiosmtplib
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import normalize_message_line_endings
from aiosmtplib.response import SMTPResponse

__all__ = ["TIMEOUT", "Behind", "Envelope", "Started", "carry", "envelope", "greet",
           "prepare", "send", "wire_data"]

TIMEOUT = 60.0  # seconds for a transaction; a big message gets more (BYTES_PER_SECOND)
BYTES_PER_SECOND = 1 << 20  # the least transfer rate a big message's deadline allows for
_MAX_LINE = 8192  # a reply line longer than this is not SMTP (aiosmtplib's limit)
_MAX_REPLY = 4 * _MAX_LINE
_UNSAFE = re.compile(r"[\s<>\x00-\x1f\x7f]")  # what never goes in a plain <address>
_ONE_WRITE = 1 << 16  # smaller data goes out with its final dot in one write
_CLOSING = 421  # the relay is closing the connection (RFC 5321 3.8)
_EARLY = 0.001  # seconds: a deadline timer that fires this much early sleeps again
# An LF that begins a line with a dot or has no CR before it (as smtp/dataread.py): one pass
# tells that a message needs neither normalising nor dot-stuffing (issue 20: four passes
# before, 11.5 -> 8.7 us a rendered mail of ~3 KB).
_LINE_DOT_OR_BARE_LF = re.compile(rb"\n(?:\.|(?<!\r\n))")
# Each connection's `_Replies`, made anew when its transport changed or it was left unfit.
_kept: weakref.WeakKeyDictionary[aiosmtplib.SMTP, _Replies] = weakref.WeakKeyDictionary()


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
        self._ahead = 1  # replies the waiter waits for
        self.broken: aiosmtplib.SMTPException | None = None
        self._deadline: float | None = None  # loop time by which the transaction ends
        self.transport: asyncio.BaseTransport | None = None  # closed by a 421 (`reply`)
        self._timer: asyncio.TimerHandle | None = None

    def arm(self, seconds: float) -> None:
        """A transaction's deadline (issue 20: `asyncio.timeout` per mail, a timer made and
        cancelled, cost ~4.4 us of the event loop). Only `reply` waits in a transaction,
        so past the deadline it raises `SMTPReadTimeoutError`, as the timeout did. The
        timer stays armed from one mail to the next on a connection (`Started`, `_kept`:
        a new protocol a mail, its timer made and cancelled, cost ~5 us more) and sleeps
        again when it fires before the deadline of the moment."""
        self._deadline = self._loop.time() + seconds
        timer = self._timer
        if timer is not None and timer.when() > self._deadline:
            timer.cancel()
            timer = None
        if timer is None:
            self._timer = self._loop.call_at(self._deadline, self._expire)

    def disarm(self, *, done: bool = False) -> None:
        """The transaction ended; `done`: this protocol is no longer read (its timer goes)."""
        self._deadline = None
        if done and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def clean(self) -> bool:  # between transactions, nothing left over: fit for the next
        return (self._deadline is None and self.broken is None and not self._buffer
                and not self._replies and not self._lines)

    def _expire(self) -> None:
        self._timer = None
        if self._deadline is None:  # between transactions: armed again by the next
            return
        if self._deadline - self._loop.time() > _EARLY:
            self._timer = self._loop.call_at(self._deadline, self._expire)
            return
        self._fail(aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response"))

    def data_received(self, data: bytes) -> None:
        buffer, start = self._buffer, 0
        if buffer:  # a line begun in an earlier read; else the read's bytes, not a copy
            buffer += data
            data = bytes(buffer)
            buffer.clear()
        while (end := data.find(b"\n", start)) >= 0:
            line, start = data[start:end + 1], end + 1
            if (not self._size and line[3:4] == b" " and line[:3].isdigit()
                    and len(line) <= _MAX_REPLY):
                # A one-line reply, nothing of a multi-line one before it: `_line`'s, without
                # its list and join (issue 20: 4 replies a mail, 6.2 -> 3.5 us in the loop).
                self._replies.append(SMTPResponse(int(line[:3]), line[4:].strip(
                    b" \t\r\n").decode("utf-8", "surrogateescape")))
            elif not self._line(line):
                buffer += data  # as before: the bytes kept as they came (broken: never read)
                return
        buffer += data[start:]  # the line not ended yet, if any
        if len(buffer) > _MAX_LINE:
            self._fail(aiosmtplib.SMTPResponseException(-1, "Response too long"))
        elif len(self._replies) >= self._ahead:
            self._wake()

    def _line(self, line: bytes) -> bool:
        self._size += len(line)
        if not line[:3].isdigit() or line[3:4] not in (b" ", b"-", b"\r", b"\n"):
            text = f"Malformed SMTP response line: {line.decode('utf-8', errors='ignore')}"
            self._fail(aiosmtplib.SMTPResponseException(-1, text))
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

    async def reply(self, ahead: int = 1) -> SMTPResponse:
        """The next reply, once `ahead` replies are in (the replies to the commands of one
        write are awaited together: a wakeup for all, not one a read) or the connection
        broke; raises when it broke first. A 421 closes `transport` and breaks this."""
        while len(self._replies) < ahead:
            if self.broken is not None:
                if self._replies:
                    break
                raise self.broken
            self._ahead = ahead
            self._waiter = self._loop.create_future()
            await self._waiter
        reply = self._replies.popleft()
        if reply.code == _CLOSING and self.transport is not None:
            self.transport.close()  # the relay ends the connection; `carry` drops it
            self.broken = aiosmtplib.SMTPServerDisconnected("closing")
        return reply


async def greet(smtp: aiosmtplib.SMTP) -> None:
    """EHLO (HELO when the relay refuses it) unless done: what the relay offers, known."""
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
    if (raw.endswith(b"\r\n") and raw[:1] != b"." and _LINE_DOT_OR_BARE_LF.search(raw) is None
            and raw.count(b"\r") == raw.count(b"\n")):
        return raw, len(raw)  # CRLF line ends only (no bare LF, and as many CRs), no dot
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


@dataclass(eq=False)
class Envelope:
    """One mail's transaction as it goes on the wire: MAIL, RCPT (one a recipient) and
    DATA, then the data (`wire_data`)."""

    sender: str
    recipients: list[str]
    commands: list[bytes]
    data: bytes


def envelope(smtp: aiosmtplib.SMTP, sender: str, recipients: list[str], raw: bytes,
             options: list[str]) -> Envelope:
    """The mail's transaction over `smtp` (greeted). Raises before anything is sent:
    SMTPRecipientsRefused without a recipient, SMTPNotSupported when it needs SMTPUTF8
    and the relay does not offer it, SMTPException for an address that cannot be sent."""
    if not recipients:
        raise aiosmtplib.SMTPRecipientsRefused([])
    utf8 = bool(options) and any(o.upper() == "SMTPUTF8" for o in options)
    if utf8 and not smtp.supports_extension("smtputf8"):
        raise aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported by this server")
    data, size = wire_data(raw)
    if smtp.supports_extension("size"):
        options = [f"size={size}", *options]
    encoding = "utf-8" if utf8 else "ascii"
    tail = b"".join([b" " + o.encode("ascii") for o in options]) + b"\r\n"
    commands = [b"MAIL FROM:" + _quote(sender).encode(encoding) + tail]
    commands += [b"RCPT TO:" + _quote(r).encode(encoding) + b"\r\n" for r in recipients]
    commands.append(b"DATA\r\n")
    return Envelope(sender, recipients, commands, data)


@dataclass(eq=False)
class Started:
    """A mail whose commands went out behind the previous mail's final dot (RFC 2920) on
    `smtp`, our protocol still on its transport: `send` given it reads their replies."""

    envelope: Envelope
    smtp: aiosmtplib.SMTP
    replies: _Replies
    theirs: asyncio.BaseProtocol


class Behind:
    """What may go behind a mail's final dot when the relay offers PIPELINING: `take`
    gives the next mail's envelope when one is at hand as the dot goes out (None: the
    mail ends alone). `started` is that mail once its commands went and the connection
    lives on (its replies wait for `send`); when it did not, the caller sends it anew."""

    def __init__(self, take: Callable[[], Envelope | None]) -> None:
        self.take = take
        self.sent: Envelope | None = None  # went behind the dot
        self.started: Started | None = None


async def send(smtp: aiosmtplib.SMTP, sender: str, recipients: list[str], raw: bytes,
               options: list[str]) -> dict[str, SMTPResponse]:
    """Send one mail over `smtp` (connected, logged in); the recipients refused while
    others were accepted, as `aiosmtplib.SMTP.sendmail` returns them. Raises as it does:
    SMTPNotSupported before MAIL (SMTPUTF8 not offered; nothing sent), SMTPSenderRefused,
    SMTPRecipientsRefused (every recipient), SMTPDataError; SMTPServerDisconnected,
    SMTPReadTimeoutError or a reply that is not SMTP with the connection closed."""
    return await carry(smtp, await prepare(smtp, sender, recipients, raw, options))


async def prepare(smtp: aiosmtplib.SMTP, sender: str, recipients: list[str], raw: bytes,
                  options: list[str]) -> Envelope:
    """The mail's `envelope`, the connection greeted first (unless it has no recipient)."""
    if not recipients:
        raise aiosmtplib.SMTPRecipientsRefused([])
    await greet(smtp)
    return envelope(smtp, sender, recipients, raw, options)


async def carry(smtp: aiosmtplib.SMTP, mail: Envelope | Started,
                behind: Behind | None = None) -> dict[str, SMTPResponse]:
    """`send` of a mail's `envelope` (or of one `Started` behind the previous mail's dot,
    on this same connection): raises as `send` does. With `behind`, the next mail's
    commands may go out with this one's final dot (see `Behind`); this mail's outcome is
    its own whatever the replies to them are, read by the next `carry`."""
    transport = smtp.transport
    theirs: asyncio.BaseProtocol | None
    if isinstance(mail, Started):
        started, mail = mail, mail.envelope
        ours, theirs = started.replies, started.theirs
        if (started.smtp is not smtp or transport is None or transport.is_closing()
                or transport.get_protocol() is not ours):
            smtp.close()
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    else:
        started, theirs = None, smtp.protocol
        if transport is None or theirs is None or transport.is_closing():
            smtp.close()
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        kept = _kept.get(smtp)  # the connection's, as its last transaction left it
        if kept is None or kept.transport is not transport or not kept.clean():
            kept = _kept[smtp] = _Replies(asyncio.get_running_loop())
        ours = kept
        transport.set_protocol(ours)
    if behind is not None:
        behind.sent = behind.started = None
    in_step = False  # every reply asked for was read: aiosmtplib may take the connection back
    ours.arm(TIMEOUT + len(mail.data) / BYTES_PER_SECOND)
    try:
        refused = await _transact(ours, cast(asyncio.WriteTransport, transport), mail,
                                  smtp.supports_extension("pipelining"),
                                  started is not None, behind)
        in_step = True
        return refused
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        in_step = ours.broken is None  # refused, or a reply that was not SMTP
        raise
    finally:
        if in_step and not transport.is_closing():
            if behind is not None and behind.sent is not None:  # its replies are ours to read
                behind.started = Started(behind.sent, smtp, ours, theirs)
            else:
                transport.set_protocol(theirs)
        else:  # broken, timed out, cancelled half-way: never handed on (nor what went behind)
            smtp.close()
            in_step = False
        ours.disarm(done=not in_step)  # its timer kept for the connection's next mail


async def _transact(replies: _Replies, transport: asyncio.WriteTransport, mail: Envelope,
                    pipelining: bool, started: bool, behind: Behind | None
                    ) -> dict[str, SMTPResponse]:
    write = transport.write
    commands, data, recipients = mail.commands, mail.data, mail.recipients
    got: list[SMTPResponse] = []
    answer = replies.reply
    replies.transport = transport
    if pipelining and not started:
        write(b"".join(commands))
    for n, command in enumerate(commands):
        if not pipelining:
            if n and got[0].code != 250:
                break  # MAIL refused: no RCPT
            if n == len(commands) - 1 and all(r.code not in (250, 251) for r in got[1:]):
                break  # every recipient refused: no DATA
            write(command)
        got.append(reply := await answer(len(commands) - n if pipelining else 1))
        if reply.code == _CLOSING:
            break
    mail_reply, answered = got[0], got[1:1 + len(recipients)]
    refused = [aiosmtplib.SMTPRecipientRefused(r.code, r.message, to)
               for to, r in zip(recipients, answered, strict=False) if r.code not in (250, 251)]
    go = (mail_reply.code == 250 and len(answered) == len(recipients)
          and len(refused) < len(answered))
    start = got[-1] if len(got) == len(commands) else None  # DATA's reply
    if start is not None and start.code == 354:
        if not go:  # 354 though nothing may be sent (RFC 2920 3.1): end an empty message
            write(b".\r\n")
            await answer()
        else:
            after = behind.take() if pipelining and behind is not None else None
            end_line = b".\r\n" if after is None else b"".join([b".\r\n", *after.commands])
            if len(data) < _ONE_WRITE:
                write(data + end_line)
            else:  # not copied once more to append the dot
                write(data)
                write(end_line)
            if behind is not None:
                behind.sent = after
            end = await answer()
            if end.code == _CLOSING and behind is not None:  # nothing behind it begun
                behind.sent = None
            if end.code != 250:
                raise aiosmtplib.SMTPDataError(end.code, end.message)
            return {r.recipient: SMTPResponse(r.code, r.message) for r in refused}
    if mail_reply.code != 250:
        raise aiosmtplib.SMTPSenderRefused(mail_reply.code, mail_reply.message, mail.sender)
    if refused and (len(refused) == len(answered) or len(answered) < len(recipients)):
        raise aiosmtplib.SMTPRecipientsRefused(refused)
    if start is None:  # a 421 cut the envelope short
        raise aiosmtplib.SMTPResponseException(got[-1].code, got[-1].message)
    raise aiosmtplib.SMTPDataError(start.code, start.message)
