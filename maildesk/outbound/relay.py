"""Connections to the relay, kept open from one sender pass to the next (issue 20).

Under a steady flow of mail each pass of the sender finds a few rows; opening a connection
per lane and pass (TCP, greeting, EHLO, maybe STARTTLS and AUTH, then QUIT) cost more than
the mails it carried. `run_sender` keeps one `Relay` for its life: a lane takes an open
connection, sends, and gives it back; a connection is closed once it has been idle for
`KEEP_IDLE` seconds, when the relay settings change (a reload), and when the sender stops.

A connection the relay closed while it was idle is noticed before a mail is given to it:
the loop sees the close (`is_connected`), and one idle for more than `CHECK_AFTER` seconds
is asked a NOOP first, so a stale connection never costs a row an attempt.
"""

from __future__ import annotations

import time
from pathlib import Path

import aiosmtplib

from maildesk.config import Config

__all__ = ["CHECK_AFTER", "KEEP_IDLE", "Relay"]

KEEP_IDLE = 30.0  # seconds an unused connection stays open (relays wait minutes)
CHECK_AFTER = 2.0  # seconds idle after which a NOOP proves the connection still works
_ERRORS = (aiosmtplib.SMTPException, OSError, TimeoutError)


class Relay:
    """Open, idle connections to the configured relay (at most as many as lanes ran)."""

    def __init__(self) -> None:
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []  # and when each was given back
        self._key: tuple[object, ...] | None = None

    async def take(self, config: Config) -> aiosmtplib.SMTP:
        """An open connection: an idle one that still works, else a new one (connected
        and logged in). Raises what connecting or logging in raised."""
        out = config.outbound
        key = (out.relay, bool(out.starttls), out.username, out.password_file)
        if key != self._key:
            await self.close()
            self._key = key
        while self._idle:
            smtp, since = self._idle.pop()
            if not smtp.is_connected:
                continue
            if time.monotonic() - since > CHECK_AFTER:
                try:
                    await smtp.noop()
                except _ERRORS:
                    smtp.close()
                    continue
            return smtp
        host, port = out.relay
        smtp = aiosmtplib.SMTP(hostname=host, port=port, timeout=60, use_tls=False,
                               start_tls=bool(out.starttls))
        await smtp.connect()
        if out.username:
            try:
                await smtp.login(out.username, _password(out.password_file) or "")
            except BaseException:
                smtp.close()
                raise
        return smtp

    def give(self, smtp: aiosmtplib.SMTP) -> None:
        """Back for the next pass, when it is still open (a lane closes a broken one)."""
        if smtp.is_connected:
            self._idle.append((smtp, time.monotonic()))

    async def close(self, idle_for: float = 0.0) -> None:
        """QUIT the connections idle for at least `idle_for` seconds (all with 0)."""
        now = time.monotonic()
        keep: list[tuple[aiosmtplib.SMTP, float]] = []
        for smtp, since in self._idle:
            if idle_for and now - since < idle_for:
                keep.append((smtp, since))
            else:
                await quit_quietly(smtp)
        self._idle = keep


async def quit_quietly(smtp: aiosmtplib.SMTP) -> None:
    if not smtp.is_connected:
        return
    try:
        await smtp.quit()
    except _ERRORS:
        smtp.close()


def _password(path: Path | None) -> str | None:
    return path.read_text().strip() if path is not None else None
