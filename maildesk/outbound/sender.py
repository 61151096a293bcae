"""The sender: claims due outbox rows and hands them to the relay (outbound/transaction.py).

Rows flow without passes (issue 20): the claimer keeps a queue of ready rows, claimed and
rendered in batches in one thread hop (outbound/batches.py), topped up when it runs lower
than there are lanes and rows are due (at once after a full batch, else when `wake` says
mail was queued, or after `poll`); each of `outbound.connections` lanes takes the next row
as soon as its connection is free, so no lane waits for a slower one. Database work runs
in threads, in short transactions of its own; the SMTP conversation happens between them,
never inside one. Per row the relay's answer decides: 2xx sent; 4xx, a refused connection
or a timeout retry with backoff; 5xx for the recipient or the message failed at once.

Outcomes are settled in commits the lanes share. A lane sends its next mail while the
previous one's settle commits, never the one after: a crash (SIGKILL, power loss) resends
at most two mails per connection, the one in flight and the one not yet noted. (With
RFC 2920 pipelining the next mail's MAIL, RCPT and DATA may go out behind a mail's final
dot, outbound/transaction.py; its own dot still waits for that rule, and a relay drops a
transaction whose data never ended.) A stop lets
the mail in flight on each connection finish, settles it, and hands the untried rows back;
leases are short and renewed while rows are held, and a restarted daemon takes its own
back at once (see outbox.py). While the relay does not answer, mails are retried without
being rendered (the claimer asks the relay before it renders again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import aiosmtplib

from maildesk.outbound import transaction
from maildesk.outbound.batches import App, Source
from maildesk.outbound.lanes import Ahead, Flow, first_of
from maildesk.outbound.outbox import LEASE, AttemptResult, Claimed, reclaim, worker_name
from maildesk.outbound.relay import KEEP_IDLE, Relay
from maildesk.outbound.render import InvalidAddress, check_address, check_sender

__all__ = ["Pass", "run_sender", "send_due", "send_due_once"]

log = logging.getLogger("maildesk.outbox")

BATCH = 100  # rows claimed at once
CONNECTIONS = 16  # parallel relay connections: `outbound.connections`' default
POLL_SECONDS = 1.0
# Seconds from one claim to the next when the first took all that was due: mail queued
# meanwhile shares the next (a claim and its rendering cost ~5 ms of CPU however few rows
# they carry; one per stored mail tripled the sender's CPU under load). A full batch is
# followed at once.
GATHER = 0.1


@dataclass(frozen=True)
class Pass:
    claimed: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0


async def run_sender(source: Source, stop_event: asyncio.Event, *,
                     poll: float = POLL_SECONDS, worker: str | None = None,
                     wake: asyncio.Event | None = None) -> None:
    """Send until `stop_event` is set. Rows are claimed whenever the lanes run low: at
    once after a full batch, else after `poll` seconds or when `wake` is set (the daemon
    sets it when a mail it stored may have queued outbound mail: an auto-response leaves
    within `GATHER` instead of up to `poll` later)."""
    app = source.runtime
    worker = worker or worker_name(app.config)
    try:
        taken = await asyncio.to_thread(reclaim, app.db, worker)
    except Exception:  # the database may be away at start; the leases run out anyway
        log.exception("outbox: cannot take back the leases of an earlier run")
    else:
        if taken:
            log.info("outbox: took back %d rows an earlier run of this daemon held", taken)
    log.info("outbox sender %s started, relay %s:%d", worker, *app.config.outbound.relay)
    flow = Flow(lambda: source.runtime, worker, Relay(), stop_event, _send, _describe)
    loop = asyncio.get_running_loop()
    try:
        while not stop_event.is_set():
            if wake is not None:
                wake.clear()  # what is queued from here on is for the next claim
            began = loop.time()
            try:
                found = await flow.fill(BATCH)
            except Exception:  # the loop must outlive a database blip; the rows wait
                log.exception("outbox: claiming failed")
                found = 0
            if found < BATCH:  # all that was due: more comes with a wake or in time
                if found == 0:
                    await flow.relay.close(idle_for=KEEP_IDLE)
                await first_of(poll, stop_event, wake)
                await first_of(began + GATHER - loop.time(), stop_event)
            await flow.hungry(stop_event)
    finally:
        await flow.close(own_relay=True)
    log.info("outbox sender %s stopped", worker)


def send_due_once(app: App, *, limit: int = BATCH) -> int:
    """One batch from synchronous code (tests, benchmarks, cron): the number sent."""
    return asyncio.run(send_due(app, limit=limit)).sent


async def send_due(app: App, *, worker: str | None = None, limit: int = BATCH,
                   stop: asyncio.Event | None = None, lease: timedelta = LEASE,
                   connections: int = CONNECTIONS, relay: Relay | None = None) -> Pass:
    """Claim up to `limit` due rows and send them as the daemon's sender does, over
    `connections` connections from `relay` (given back to it; without one they end with
    the call); when `stop` is set, rows not yet begun are handed back. A settle that
    failed is raised once every other mail is settled (those are never resent)."""
    flow = Flow(lambda: app, worker or worker_name(), relay or Relay(), stop, _send,
                _describe, lease=lease, connections=connections)
    try:
        claimed = await flow.fill(limit)
    finally:
        await flow.close(own_relay=relay is None)
    if flow.errors:
        raise flow.errors[0]
    counts = flow.settler.counts
    return Pass(claimed, counts["sent"], counts["retry"], counts["failed"])

async def _send_one(smtp: aiosmtplib.SMTP, row: Claimed) -> AttemptResult:
    """One row's mail over `smtp`, nothing behind it."""
    return (await _send(smtp, row, lambda: None))[0]


async def _send(smtp: aiosmtplib.SMTP, job: Claimed | Ahead, take: Callable[[], Claimed | None]
                ) -> tuple[AttemptResult, Ahead | None]:
    """The lanes' send (outbound/lanes.py): one row's mail over `smtp`, and the next row
    (`take`, when one is at hand as this one's final dot goes out; RFC 2920) with its
    commands sent behind that dot when the relay offers PIPELINING. Each mail's outcome is
    its own: a refusal of the next mail's commands is the next mail's."""
    row, started = (job.row, job.started) if isinstance(job, Ahead) else (job, None)
    taken: list[Claimed] = []

    def behind() -> transaction.Envelope | None:
        following = take()
        if following is None:
            return None
        taken.append(following)
        try:
            sender = check_sender(following.mail_from)
            recipients = [check_address(r) for r in following.recipients]
            if not recipients:
                return None
            return transaction.envelope(smtp, sender, recipients, following.raw,
                                        _utf8_options(sender, recipients, following.raw))
        except Exception:  # not for behind a dot: sent on its own, its error told then
            return None

    pipe = transaction.Behind(behind)
    outcome = await _attempt(smtp, row, started if isinstance(started, transaction.Started)
                             else None, pipe)
    return outcome, (Ahead(taken[0], pipe.started) if taken else None)


async def _attempt(smtp: aiosmtplib.SMTP, row: Claimed, started: transaction.Started | None,
                   behind: transaction.Behind) -> AttemptResult:
    try:
        if started is None:
            try:
                sender = check_sender(row.mail_from)
                recipients = [check_address(r) for r in row.recipients]
            except InvalidAddress as exc:
                return AttemptResult(row.id, "failed", str(exc))
            options = _utf8_options(sender, recipients, row.raw)
            mail: transaction.Envelope | transaction.Started
            if smtp.is_ehlo_or_helo_needed:
                mail = await transaction.prepare(smtp, sender, recipients, row.raw, options)
            else:  # `prepare` of a greeted connection, without its two coroutines (issue 20)
                mail = transaction.envelope(smtp, sender, recipients, row.raw, options)
        else:
            mail = started
        refused = await transaction.carry(smtp, mail, behind)
    except aiosmtplib.SMTPNotSupported:  # before MAIL FROM: the connection stays usable
        return AttemptResult(row.id, "failed", _NO_SMTPUTF8)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        error = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        await _reset(smtp)
        return AttemptResult(row.id, "failed" if codes and min(codes) >= 500 else "retry", error)
    except aiosmtplib.SMTPResponseException as exc:
        if behind.started is None:  # else the next mail's commands followed the refused dot,
            await _reset(smtp)  # which ended this transaction (RFC 5321 4.1.1.4)
        return AttemptResult(row.id, "failed" if exc.code >= 500 else "retry", _describe(exc))
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        smtp.close()
        return AttemptResult(row.id, "retry", _describe(exc))
    if refused:  # only with several recipients; each row has one, so this is defensive
        error = "; ".join(f"{a}: {r.code} {r.message}" for a, r in refused.items())
        return AttemptResult(row.id, "sent", f"partly refused: {error}")
    return AttemptResult(row.id, "sent")


_NO_SMTPUTF8 = ("the address has a non-ASCII local part, which needs SMTPUTF8 (RFC 6531), "
                "and the relay does not offer it: enable SMTPUTF8 on the relay "
                "(Postfix: smtputf8_enable = yes) and resend, or reach the customer otherwise")


def _utf8_options(sender: str, recipients: list[str], raw: bytes) -> list[str]:
    """SMTPUTF8 when an address, or the header block (a UTF-8 To or Cc), is not ASCII;
    `transaction.send` refuses before MAIL FROM when the relay does not offer it."""
    if sender.isascii() and all(r.isascii() for r in recipients) and (
            raw.isascii() or raw.split(b"\r\n\r\n", 1)[0].isascii()):  # whole: no copy
        return []
    return ["SMTPUTF8"]


async def _reset(smtp: aiosmtplib.SMTP) -> None:
    """RSET after a refused transaction so the connection can carry the next row."""
    if not smtp.is_connected:
        return
    try:
        await smtp.rset()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        smtp.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]
