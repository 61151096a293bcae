"""aiosmtpd's SMTP protocol, tightened where maildesk's promises need it.

What this subclass changes, and why:

* DATA is read here, not by aiosmtpd, so that the replies after the final dot are ours:
  one for SMTP, one per accepted recipient for LMTP (RFC 2033; aiosmtpd sends one, its
  issue #517), and size or line-length failures carry RFC 3463 codes. The reading keeps
  aiosmtpd >= 1.4.6's framing: only CRLF.CRLF ends the data, so a bare-LF "smuggled"
  message stays inside the one it came in. Lines ending in a bare LF are taken as CRLF
  (`listen.bare_newline: normalize`, as Postfix's smtpd_forbid_bare_newline = normalize)
  or refused with 550 5.5.2 after the data (`reject`), never "line too long".
* Any exception becomes `451 4.3.0` with no detail: aiosmtpd's default `500 Error: (Type)
  text` is permanent (the sender bounces the mail) and leaks internals.
* Connections are counted, in total and per client address; past the caps the client gets
  `421 4.7.0` and is closed before the greeting (aiosmtpd has no limit, its issue #282).
  The last eighth of the slots is kept for clients that hold fewer than an eighth of their
  own cap (at least one): a few addresses cannot take every slot.
* DATA is timed per read, not as a whole: each read restarts `idle_timeout`, and the whole
  transfer may take `idle_timeout` plus its size at `min_data_rate` (as Postfix's
  smtpd_timeout with per-request deadlines and smtpd_min_data_rate), so a slow link can
  deliver a big mail while a trickle of bytes cannot hold a slot; past it, `421 4.4.2`.
* Holding a slot without sending mail ends: RSET, NOOP, HELP, VRFY and EXPN share one
  budget (JUNK_LIMIT, as Postfix's smtpd_junk_command_limit), and a session that has not
  completed a mail within `max_time_without_mail` is closed with `421 4.4.2`.
* The limits come from the config in force when the connection opened, so a reload changes
  new sessions and never one half-way through a transaction.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
from collections import Counter
from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP, TLSSetupException, syntax

from maildesk.config import Listen
from maildesk.smtp import status
from maildesk.smtp.dataread import DataReader
from maildesk.smtp.datasink import DataSink
from maildesk.smtp.handler import Handler
from maildesk.smtp.paths import parse_path

__all__ = ["Sessions", "MaildeskSMTP", "make_tls_context"]

log = logging.getLogger("maildesk.smtp")

IDENT = "maildesk ESMTP"  # no version: nothing for a scanner to match
# Per session. A client may send as many mails on one connection as it likes, but NOOP
# every few minutes would hold a connection slot forever (reliability plan, case 9), and
# HELP/VRFY/EXPN/greetings have no business being repeated: past these, 421 and close.
CALL_LIMITS = {"*": 10**9, "NOOP": 100, "HELP": 10, "VRFY": 10, "EXPN": 10,
               "HELO": 20, "EHLO": 20, "LHLO": 20, "STARTTLS": 5}
JUNK_LIMIT = 100  # RSET, NOOP, HELP, VRFY, EXPN together, per session
RESERVE = 8  # the last 1/RESERVE of the slots: only for clients holding few
_SIZE_PARAM = re.compile(r"(?:^|\s)SIZE=(\d+)", re.IGNORECASE)
_EARLY = 0.001  # seconds: a timer that fires this much before its deadline sleeps again
_READ_ALL = 1 << 40  # StreamReader.read(n) returns what is buffered, up to n bytes
# During DATA the reader's limit only sets its flow control (DATA is read with `read`, not
# `readuntil`): aiosmtpd's line limit (1001) paused and resumed the socket (two epoll
# calls) for every mail over 2 KB; asyncio's own default window still bounds the buffer.
_DATA_WINDOW = 1 << 16


@dataclass
class Sessions:
    """The live sessions of one daemon: connection caps, and the list a shutdown walks."""

    live: set[MaildeskSMTP] = field(default_factory=set)
    per_client: Counter[str] = field(default_factory=Counter)
    stopping: bool = False
    busy: int = 0  # sessions inside a transaction: mails that may be on their way

    def transactions(self) -> int:
        """Sessions inside a transaction now (the ingest's batches wait for those mails,
        maildesk.batch). Read from the ingest thread: one int, a hint."""
        return self.busy

    def admit(self, session: MaildeskSMTP, client: str, listen: Listen) -> bool:
        if self.stopping:
            return False
        if len(self.live) >= listen.max_connections:
            return False
        if self.per_client[client] >= listen.max_connections_per_client:
            return False
        free = listen.max_connections - len(self.live)
        if free * RESERVE <= listen.max_connections and \
                self.per_client[client] >= max(1, listen.max_connections_per_client // RESERVE):
            return False  # the reserve is for clients that hold few slots
        self.live.add(session)
        self.per_client[client] += 1
        return True

    def release(self, session: MaildeskSMTP, client: str) -> None:
        if session in self.live:
            self.live.discard(session)
            self.per_client[client] -= 1
            if self.per_client[client] <= 0:
                del self.per_client[client]

    def begin_shutdown(self) -> None:
        """Idle sessions are told 421 and closed now; busy ones after their transaction."""
        self.stopping = True
        for session in list(self.live):
            if not session.busy:
                session.close_with(status.SHUTTING_DOWN)

    def close_all(self) -> None:
        for session in list(self.live):
            session.close_with(status.SHUTTING_DOWN)


def make_tls_context(listen: Listen) -> ssl.SSLContext | None:
    if listen.tls_cert is None or listen.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(listen.tls_cert), str(listen.tls_key))
    return context


class MaildeskSMTP(SMTP):
    """One SMTP session. `handler` is the shared `Handler`; `sessions` the shared registry."""

    per_recipient_replies = False  # LMTP: one reply per accepted recipient after DATA

    def __init__(self, handler: Handler, sessions: Sessions, listen: Listen,
                 tls_context: ssl.SSLContext | None = None, hostname: str | None = None) -> None:
        # aiosmtpd sizes its StreamReader from this attribute inside __init__.
        self.line_length_limit = listen.max_line_length
        self.listen = listen
        self.max_recipients = listen.max_recipients
        self.sessions = sessions
        self._busy = False
        self._client = ""
        self._admitted = False
        self._junk = 0
        self._in_data = False
        self._no_mail: asyncio.TimerHandle | None = None
        self._no_mail_at = 0.0  # loop time by which the session must complete a mail
        self._idle_at = 0.0  # loop time at which a silent client is dropped
        super().__init__(
            handler,
            data_size_limit=listen.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=hostname or socket.gethostname(),  # never getfqdn(): DNS may hang
            ident=IDENT,
            tls_context=tls_context,
            require_starttls=bool(tls_context) and listen.require_starttls,
            timeout=listen.idle_timeout,
            command_call_limit=CALL_LIMITS,
        )

    @property
    def busy(self) -> bool:
        """Inside a transaction (MAIL given, or DATA being stored); counted in `sessions`."""
        return self._busy

    @busy.setter
    def busy(self, value: bool) -> None:
        if value != self._busy:
            self._busy = value
            self.sessions.busy += 1 if value else -1

    # -- connection accounting ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._original_transport is None and not self._admitted:  # not a STARTTLS restart
            peer = transport.get_extra_info("peername")
            self._client = str(peer[0]) if isinstance(peer, tuple) else str(peer)
            if not self.sessions.admit(self, self._client, self.listen):
                log.warning("refused connection from %s: %s", self._client,
                            "shutting down" if self.sessions.stopping else "too many connections")
                reply = status.SHUTTING_DOWN if self.sessions.stopping \
                    else status.TOO_MANY_CONNECTIONS
                transport.write(reply.encode() + b"\r\n")  # type: ignore[attr-defined]
                transport.close()
                return
            self._admitted = True
            self._arm_no_mail()
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if not self._admitted:
            return  # refused before the session started: nothing of aiosmtpd's to tear down
        self.busy = False  # a transaction cut off: no mail comes from it
        self.sessions.release(self, self._client)
        if self._no_mail is not None:
            self._no_mail.cancel()
        super().connection_lost(error)

    def _arm_no_mail(self) -> None:
        """(Re)start the clock a session has to complete its next mail. The deadline moves;
        the one timer, when it fires before it, sleeps again for the rest."""
        self._no_mail_at = self.loop.time() + self.listen.max_time_without_mail
        if self._no_mail is None:
            self._no_mail = self.loop.call_at(self._no_mail_at, self._without_mail)

    def _without_mail(self) -> None:
        if self._in_data:  # a mail arriving: the data-rate limits watch it
            self._no_mail = self.loop.call_later(1.0, self._without_mail)
            return
        if self._no_mail_at - self.loop.time() > _EARLY:  # a mail came since it was armed
            self._no_mail = self.loop.call_at(self._no_mail_at, self._without_mail)
            return
        log.info("closing the session of %s: no mail for %.0f s", self._client,
                 self.listen.max_time_without_mail)
        self.close_with(status.NO_MAIL_TIMEOUT)

    def _reset_timeout(self, duration: float | None = None) -> None:
        """The idle clock, restarted by every command. aiosmtpd cancels and makes a timer
        each time (a heap push, and a dead handle left in the heap); here the deadline
        moves and the armed timer, when it fires before it, sleeps again for the rest."""
        self._idle_at = self.loop.time() + (duration or self._timeout_duration)
        handle = self._timeout_handle
        if handle is not None and not handle.cancelled() and handle.when() <= self._idle_at:
            return
        if handle is not None:
            handle.cancel()
        self._timeout_handle = self.loop.call_at(self._idle_at, self._timeout_cb)

    def _timeout_cb(self) -> None:
        if self._idle_at - self.loop.time() > _EARLY:
            self._timeout_handle = self.loop.call_at(self._idle_at, self._timeout_cb)
            return
        super()._timeout_cb()

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's address parsing, with a fast path for plain `<local@domain>`."""
        return parse_path(arg, self.local_part_limit)

    async def _junk_command(self) -> bool:
        """Count a command that is no part of a mail; True when the budget is spent (the
        session is then told 421 and closed)."""
        self._junk += 1
        if self._junk <= JUNK_LIMIT:
            return False
        log.info("closing the session of %s: %d commands without a mail", self._client,
                 self._junk)
        await self.push(status.TOO_MANY_COMMANDS)
        self.transport.close()  # type: ignore[union-attr]
        return True

    @syntax("NOOP [ignored]")
    async def smtp_NOOP(self, arg: str) -> None:
        if not await self._junk_command():
            await super().smtp_NOOP(arg)

    @syntax("HELP [command]")
    async def smtp_HELP(self, arg: str) -> None:
        if not await self._junk_command():
            await super().smtp_HELP(arg)

    @syntax("VRFY <address>")
    async def smtp_VRFY(self, arg: str) -> None:
        if not await self._junk_command():
            await super().smtp_VRFY(arg)

    async def smtp_EXPN(self, arg: str) -> None:
        if not await self._junk_command():
            await super().smtp_EXPN(arg)

    def close_with(self, reply: str) -> None:
        """Say goodbye and hang up, from outside the session's own coroutine (shutdown)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(reply.encode() + b"\r\n")  # type: ignore[attr-defined]
            self.transport.close()

    # -- errors ------------------------------------------------------------------------------

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):
            log.info("TLS handshake with %s failed: %s", self._client, error.__cause__)
        else:
            log.error("error in SMTP session with %s", self._client, exc_info=error)
        return status.INTERNAL_ERROR

    # -- commands ----------------------------------------------------------------------------

    async def smtp_MAIL(self, arg: str | None) -> None:
        """Refuse a declared SIZE over the limit with an enhanced code, before any data."""
        if arg and "=" in arg and self.session is not None and self.session.extended_smtp:
            match = _SIZE_PARAM.search(arg)  # needs its "=": the regex ~1.8 us a MAIL
            if match and self.data_size_limit and int(match.group(1)) > self.data_size_limit:
                if not await self.check_helo_needed():
                    await self.push(status.TOO_BIG_AT_MAIL)
                return
        await super().smtp_MAIL(arg)
        self.busy = bool(self.envelope is not None and self.envelope.mail_from)

    @syntax("RSET")
    async def smtp_RSET(self, arg: str) -> None:
        if await self._junk_command():
            return
        await super().smtp_RSET(arg)
        self.busy = False
        self._close_if_stopping()

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        self.busy = self._in_data = True
        line_limit = self._reader._limit  # type: ignore[attr-defined]
        self._reader._limit = max(line_limit, _DATA_WINDOW)  # type: ignore[attr-defined]
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        handler: Handler = self.event_handler
        data = handler.data_sink()
        try:
            try:
                error = await self._read_data(data)
            finally:
                self._in_data = False
                self._reader._limit = line_limit  # type: ignore[attr-defined]
            replies = len(self.envelope.rcpt_tos) if self.per_recipient_replies else 1
            if error is not None:
                reply = error
            else:
                # The client waits for our verdict: hanging up while we store only brings the
                # same mail again (RFC 5321 4.5.3.2.6). The idle clock restarts after the reply.
                if self._timeout_handle is not None:
                    self._timeout_handle.cancel()
                try:
                    assert self.session is not None
                    reply = (await handler.ingest(data, self.session, self.envelope)).reply
                except Exception:
                    log.exception("storing a mail from %s failed", self._client)
                    reply = status.INTERNAL_ERROR
        finally:
            data.close()
        self._set_post_data_state()
        self.busy = False
        if reply.startswith("250"):
            self._arm_no_mail()
        for _ in range(replies):
            self._writer.write(reply.encode("utf-8", "replace") + b"\r\n")
        await self._writer.drain()
        self._reset_timeout()
        if reply == status.TOO_SLOW and self.transport is not None:
            self.transport.close()  # the rest of the data is not worth waiting for
        self._close_if_stopping()

    async def _read_data(self, data: DataSink) -> str | None:
        """Read up to CRLF.CRLF into `data`, a read at a time (smtp/dataread.py keeps the
        line reader's rules); drain oversize data before answering (RFC 5321 4.2.5) and
        keep none of it: a big mail goes to a file as it arrives."""
        reader = DataReader(data, self.data_size_limit, self.line_length_limit,
                            self.listen.bare_newline == "normalize")
        loop = asyncio.get_running_loop()
        started = last_reset = loop.time()
        received = 0
        while self.transport is not None:
            now = loop.time()
            if now - last_reset >= 1.0:  # a read came in: the idle clock starts again
                allowed = self.listen.idle_timeout + received / max(self.listen.min_data_rate, 1)
                if now - started > allowed:
                    log.info("closing the session of %s: %d bytes of data in %.0f s",
                             self._client, received, now - started)
                    return status.TOO_SLOW  # answered, then closed, by smtp_DATA
                self._reset_timeout()
                last_reset = now
            try:
                chunk = await self._reader.read(_READ_ALL)
            except asyncio.CancelledError:
                log.info("connection from %s lost during DATA: nothing stored", self._client)
                self._writer.close()
                raise
            if not chunk:  # end of file: as readuntil would say
                raise asyncio.IncompleteReadError(b"", None)
            received += len(chunk)
            rest = reader.feed(chunk)
            if rest and not self._reader.at_eof():
                # The read took the whole buffer and nothing came since: what followed the
                # data (pipelined commands) goes back, in order, for aiosmtpd's reader.
                self._reader.feed_data(rest)
            if reader.flush_due:
                reader.flush_due = False
                await data.flush()
            if rest is not None:
                return reader.error
        return reader.error

    def _close_if_stopping(self) -> None:
        if self.sessions.stopping:
            self.close_with(status.SHUTTING_DOWN)
