"""The aiosmtpd handler: a thin adapter between the SMTP dialogue and `App`.

It decides only what the dialogue must decide before DATA (which recipients are ours, how
many, whether there is room to store anything). Everything about the mail itself is the
pipeline's: `App.ingest` runs in a worker thread, so the event loop never waits on parsing
or the database, and its `Outcome` is the reply, word for word.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from maildesk.batch import Batcher
from maildesk.intake.message import Envelope
from maildesk.outcome import Outcome
from maildesk.smtp import status
from maildesk.smtp.budget import BudgetSpent, MemoryBudget
from maildesk.smtp.datasink import DataSink

if TYPE_CHECKING:
    from aiosmtpd.smtp import SMTP, Session
    from aiosmtpd.smtp import Envelope as SMTPEnvelope

    from maildesk.app import App

__all__ = ["Handler"]

log = logging.getLogger("maildesk.smtp")

# A control character (C0 or DEL) in a recipient. Checked only when `str.isprintable` says
# no (it is False for each of them): a generator over the address's characters cost ~7 us
# a RCPT in the event loop, this ~0.2 us (issue 20).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FREE_SPACE_CHECK_EVERY = 2.0  # seconds; statvfs per MAIL would be wasted work under load


class Handler:
    """aiosmtpd hooks for one daemon; shared by every SMTP and LMTP session."""

    def __init__(self, app: App, executor: Executor,
                 on_result: Callable[[Outcome], None] | None = None) -> None:
        self.app = app
        self.executor = executor
        self.on_result = on_result
        self.budget = MemoryBudget(app.config.listen.memory_budget)
        self._space_checked = 0.0
        self._space_ok = True

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: SMTPEnvelope,
                          hostname: str, responses: list[str]) -> list[str]:
        """Advertise PIPELINING: aiosmtpd reads commands in order, so it works, but does not
        say so (and LMTP, RFC 2033 section 5, requires it)."""
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: SMTPEnvelope,
                          address: str, options: list[str]) -> str:
        """Refuse early, and temporarily, when the disk cannot hold one more mail (Postfix's
        queue_minfree): better than accepting DATA only to answer 451 after it."""
        if not self._enough_space():
            return status.NO_STORAGE
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: SMTPEnvelope,
                          address: str, options: list[str]) -> str:
        """Only our own addresses: never a relay, and unknown ones are refused here rather
        than bounced later (no backscatter)."""
        if _has_control(address):
            return status.BAD_ADDRESS
        limit = getattr(server, "max_recipients", self.app.config.listen.max_recipients)
        if len(envelope.rcpt_tos) >= limit:
            return status.TOO_MANY_RECIPIENTS
        if not self.app.accepts(address):
            log.info("refused recipient <%s> from %s", address, session.peer)
            return status.unknown_recipient(address)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 Ok"

    def data_sink(self) -> DataSink:
        """Where the next DATA goes: a big mail to a file on the storage disk."""
        return DataSink(self.app.config.storage.path)

    async def ingest(self, data: DataSink | bytes, session: Session,
                     smtp_envelope: SMTPEnvelope) -> Outcome:
        """Within the memory budget (smtp/budget.py): wait for a share, else 452."""
        budget = self.budget
        budget.limit = self.app.config.listen.memory_budget  # a reload may change it
        size = len(data) if isinstance(data, bytes) else data.size
        if budget.hold_now(size):  # the usual case: no context manager, no lock
            try:
                return await self._ingest(data, session, smtp_envelope)
            finally:
                await budget.release(size)
        try:
            async with budget.hold(size):
                return await self._ingest(data, session, smtp_envelope)
        except BudgetSpent:
            outcome = Outcome("deferred", 452, "4.3.1 Insufficient system storage: too many "
                              "big mails at once, try again later")
            if self.on_result is not None:
                self.on_result(outcome)
            return outcome

    async def _ingest(self, data: DataSink | bytes, session: Session,
                      smtp_envelope: SMTPEnvelope) -> Outcome:
        """Hand the mail to the pipeline off the loop; its Outcome is only 2xx once durable.
        A spilled mail is read back from its file off the loop too."""
        sender = smtp_envelope.mail_from or ""
        envelope = Envelope(
            sender="" if sender == "<>" else sender,
            recipients=tuple(smtp_envelope.rcpt_tos),
            peer=_peer_text(session.peer),
            helo=session.host_name or "",
        )
        loop = asyncio.get_running_loop()
        if isinstance(data, bytes):
            raw = data
        elif data.spilled:
            raw = await loop.run_in_executor(None, data.read)
        else:
            raw = data.read()  # a join of at most SPILL_AT bytes
        if isinstance(self.executor, Batcher):  # group commit (maildesk.batch)
            outcome = await self.executor.submit_mail_async(raw, envelope)
        else:
            outcome = await loop.run_in_executor(self.executor, self.app.ingest, raw, envelope)
        if self.on_result is not None:
            self.on_result(outcome)
        return outcome

    async def handle_exception(self, error: Exception) -> str:
        """A bug in a hook: temporary failure, detail in the log only (never to the peer)."""
        log.error("error in SMTP session", exc_info=error)
        return status.INTERNAL_ERROR

    def _enough_space(self) -> bool:
        now = time.monotonic()
        if now - self._space_checked >= _FREE_SPACE_CHECK_EVERY:
            self._space_checked = now
            listen = self.app.config.listen
            try:
                free = shutil.disk_usage(self.app.config.storage.path).free
            except OSError:
                free = None  # the folder is missing: ingest will say what is wrong
            self._space_ok = free is None or free >= listen.max_message_size * 3 // 2
            if not self._space_ok:
                log.warning("free space %d bytes below 1.5 x max_message_size: answering 452",
                            free)
        return self._space_ok


def _has_control(address: str) -> bool:
    return not address.isprintable() and _CONTROL.search(address) is not None


def _peer_text(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peer or "")
