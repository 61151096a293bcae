"""The sender: claims due outbox rows and hands them to the relay (outbound/transaction.py).

Database work (claim, settle) runs in a thread and in its own short transactions; the
SMTP conversation happens between them, never inside one. Per row the relay's answer
decides: 2xx sent; 4xx, a refused connection or a timeout retry with backoff; 5xx for the
recipient or the message failed at once (no retry storm).

Each mail is settled as its relay reply arrives, before its connection carries the next
one (the lanes' settles share a commit), so a crash can resend at most the mails in
flight: one per connection. A stop lets the mail in flight finish, settles it, and hands
the untried rows back; leases are short and renewed while the pass works, and a
restarted daemon takes its own back at once (see outbox.py).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Protocol

import aiosmtplib
from sqlalchemy.orm import Session

from maildesk.config import Config
from maildesk.events import DeliveryFailed
from maildesk.outbound import transaction
from maildesk.outbound.dispatch import dispatch
from maildesk.outbound.outbox import (
    LEASE,
    AttemptResult,
    Claimed,
    claim_due,
    note_settle_failure,
    reclaim,
    release,
    renew,
    settle,
    worker_name,
)
from maildesk.outbound.relay import KEEP_IDLE, Relay
from maildesk.outbound.render import InvalidAddress, check_address
from maildesk.outbound.verp import envelope_base, signed_verp
from maildesk.store.db import TRANSIENT_ERRORS, Database


class App(Protocol):
    """What a pass uses of the runtime (`maildesk.runtime.Runtime`, once per pass)."""

    @property
    def config(self) -> Config: ...
    @property
    def db(self) -> Database: ...
    @property
    def secret(self) -> bytes: ...


class Source(Protocol):
    """Where `run_sender` takes the runtime of the moment (the process's App): once per
    pass, so a reload between passes is seen and never half-way through one."""

    @property
    def runtime(self) -> App: ...

__all__ = ["Pass", "run_sender", "send_due", "send_due_once"]

log = logging.getLogger("maildesk.outbox")

BATCH = 100  # rows claimed per pass
CONNECTIONS = 16  # parallel relay connections: `outbound.connections`' default
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Pass:
    claimed: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0


async def run_sender(source: Source, stop_event: asyncio.Event, *,
                     poll: float = POLL_SECONDS, worker: str | None = None,
                     wake: asyncio.Event | None = None) -> None:
    """Send until `stop_event` is set; a pass that found work is followed at once by
    another, an idle one waits `poll` seconds, or until `wake` is set (the daemon sets it
    when a mail it stored may have queued outbound mail: an auto-response leaves at once
    instead of up to `poll` later), or until stopped."""
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
    relay = Relay()  # connections kept open from pass to pass (outbound/relay.py)
    try:
        while not stop_event.is_set():
            if wake is not None:
                wake.clear()  # what is queued from here on is for the next pass
            try:
                now = source.runtime  # a reload between passes is seen here
                result = await send_due(now, worker=worker, stop=stop_event, relay=relay,
                                        connections=now.config.outbound.connections)
            except Exception:  # the loop must outlive a database blip; the rows wait
                log.exception("outbox pass failed")
                result = Pass()
            if result.claimed == 0:
                await relay.close(idle_for=KEEP_IDLE)
                await _rest(stop_event, wake, poll)
    finally:
        await relay.close()
    log.info("outbox sender %s stopped", worker)


async def _rest(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    """Until `seconds` pass, `stop` is set or `wake` is."""
    if wake is None:
        waiters = [asyncio.ensure_future(stop.wait())]
    elif wake.is_set():
        return
    else:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def send_due_once(app: App, *, limit: int = BATCH) -> int:
    """One pass from synchronous code (tests, benchmarks, cron): the number sent."""
    return asyncio.run(send_due(app, limit=limit)).sent


@dataclass
class _Settler:
    """Group commit of outcomes: each lane waits until its row is settled before it sends
    the next; outcomes arriving while a commit runs go into the next one."""

    app: App
    held: set[int]  # rows of the pass not yet settled or released (renewed meanwhile)
    outcomes: list[AttemptResult] = field(default_factory=list)
    _queue: list[tuple[list[AttemptResult], asyncio.Future[None]]] = field(default_factory=list)
    _running: bool = False

    def _react(self, session: Session, events: list[DeliveryFailed]) -> None:
        """Mail about rows that failed for good (a note to an answer's owner)."""
        dispatch(session, self.app.config, self.app.secret, events)

    def _done(self, outcomes: list[AttemptResult], failed: list[int]) -> None:
        for outbox_id in failed:
            log.warning("outbox %d failed for good", outbox_id)
        self.outcomes.extend(outcomes)
        self.held.difference_update(o.id for o in outcomes)

    async def _alone(self, outcomes: list[AttemptResult], future: asyncio.Future[None]) -> None:
        db, config = self.app.db, self.app.config
        try:
            failed = await asyncio.to_thread(settle, db, config, outcomes, self._react)
        except Exception as exc:
            ids = [o.id for o in outcomes]
            log.error("outbox %s: settle failed: %s", ids, exc, exc_info=True)
            if not isinstance(exc, TRANSIENT_ERRORS):  # a bug, not the database away
                try:
                    marked = await asyncio.to_thread(note_settle_failure, db, ids,
                                                     f"{type(exc).__name__}: {exc}")
                except Exception:
                    log.exception("outbox %s: cannot count the settle failure", ids)
                else:
                    for outbox_id in marked:
                        log.error("outbox %d marked failed: its settle keeps failing",
                                  outbox_id)
                    self.held.difference_update(marked)
            if not future.done():
                future.set_exception(exc)
            return
        self._done(outcomes, failed)
        if not future.done():
            future.set_result(None)

    async def settle(self, outcomes: list[AttemptResult]) -> None:
        if not outcomes:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((outcomes, future))
        if not self._running:
            self._running = True
            asyncio.create_task(self._commit())
        await future

    async def _commit(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                every = [o for outcomes, _ in batch for o in outcomes]
                try:
                    failed = await asyncio.to_thread(settle, self.app.db, self.app.config, every,
                                                     self._react)
                except Exception:
                    # One bad row must not take the batch with it: settle each mail alone,
                    # and count the failure against the rows that still fail.
                    for outcomes, future in batch:
                        await self._alone(outcomes, future)
                    continue
                self._done(every, failed)
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._running = False


async def send_due(app: App, *, worker: str | None = None, limit: int = BATCH,
                   stop: asyncio.Event | None = None, lease: timedelta = LEASE,
                   connections: int = CONNECTIONS, relay: Relay | None = None) -> Pass:
    """Claim up to `limit` due rows, send them over a few connections, settling each as
    its reply arrives; when `stop` is set, rows not yet begun are handed back. The
    connections come from `relay` and go back to it (without one, they end with the pass)."""
    worker = worker or worker_name()
    claimed = await asyncio.to_thread(claim_due, app.db, worker, limit, lease)
    if not claimed:
        return Pass()
    claim = claimed[0].claim
    settler = _Settler(app, {r.id for r in claimed})
    renewing = asyncio.create_task(_renew(app, claim, settler.held, lease))
    hooks = [r for r in claimed if r.kind == "webhook"]  # HTTP, not the relay
    mails = [r for r in claimed if r.kind != "webhook"]
    pool = relay if relay is not None else Relay()
    try:
        if any(r.spec and not r.raw for r in mails):
            # The relay first: while it is down the rows are retries, not rendered in vain.
            smtp = await _connect(app, pool, mails, settler)
            mails = [] if smtp is None else await _build(app, mails, settler, pool, smtp)
        lanes = [mails[i::connections] for i in range(min(connections, len(mails)))]
        work = [_send_lane(app, lane, settler, stop, pool) for lane in lanes]
        if hooks:
            from maildesk.webhooks.post import post_webhooks

            work.append(post_webhooks(app, hooks, settler.settle))
        # Every lane runs to its end even when another fails (a settle bug): the mails the
        # others sent are settled before the pass reports the failure, not resent.
        ended = await asyncio.gather(*work, return_exceptions=True)
    finally:
        renewing.cancel()
        if relay is None:
            await pool.close()
        untried = sorted(settler.held)
        if untried and stop is not None and stop.is_set():
            await asyncio.to_thread(release, app.db, claim, untried)
    for failure in ended:
        if isinstance(failure, BaseException):
            raise failure
    counts = {r: sum(1 for o in settler.outcomes if o.result == r)
              for r in ("sent", "retry", "failed")}
    return Pass(len(claimed), counts["sent"], counts["retry"], counts["failed"])


async def _connect(app: App, relay: Relay, rows: list[Claimed],
                   settler: _Settler) -> aiosmtplib.SMTP | None:
    """A connection, or None with `rows` retried (a 5xx to EHLO or AUTH is the relay's)."""
    try:
        return await relay.take(app.config)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        host, port = app.config.outbound.relay
        error = f"relay {host}:{port}: {_describe(exc)}"
        log.warning("outbox: cannot reach %s", error)
        await settler.settle([AttemptResult(r.id, "retry", error) for r in rows])
        return None


async def _build(app: App, rows: list[Claimed], settler: _Settler, relay: Relay,
                 smtp: aiosmtplib.SMTP) -> list[Claimed]:
    """Render the rows queued as what to send (outbound/deferred.py), in a thread; a row
    that cannot be rendered is a failed attempt (`not built: ...`), retried later. `smtp`
    showed the relay answers: it goes back to `relay`, for the first lane."""
    relay.give(smtp)
    from maildesk.outbound.deferred import render_claimed
    from maildesk.outbound.failures import BUILD_FAILED

    todo = [r for r in rows if r.spec and not r.raw]

    def build() -> tuple[list[Claimed], dict[int, str]]:
        with app.db.reading() as session:
            return render_claimed(session, app.config, todo)

    built, broken = await asyncio.to_thread(build)
    if broken:
        await settler.settle([AttemptResult(i, "retry", f"{BUILD_FAILED}: {why}", built=False)
                              for i, why in broken.items()])
    ready = {r.id: r for r in built}
    return [ready.get(r.id, r) for r in rows if r.id not in broken]


async def _renew(app: App, claim: str, held: set[int], lease: timedelta) -> None:
    """Keep the pass's unsettled rows leased while it works (a slow relay, a long pass)."""
    every = max(lease.total_seconds() / 3, 0.05)
    while held:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(renew, app.db, claim, sorted(held), lease)
        except Exception:  # a blip: the next renewal may get through before the lease ends
            log.exception("outbox: renewing leases failed")


async def _send_lane(app: App, rows: list[Claimed], settler: _Settler,
                     stop: asyncio.Event | None, relay: Relay) -> None:
    """Send rows one by one over one connection, settling each before the next; on a
    broken connection the rest wait; after a stop nothing new is begun."""
    smtp = await _connect(app, relay, rows, settler)
    if smtp is None:
        return
    try:
        for n, row in enumerate(rows):
            if stop is not None and stop.is_set():
                break  # the rest is released by send_due
            if not smtp.is_connected:
                await settler.settle([AttemptResult(r.id, "retry", "connection to the relay lost")
                                      for r in rows[n:]])
                break
            outcome = await _send_one(smtp, _signed(app, row))
            await settler.settle([replace(outcome, raw=row.raw) if row.fresh else outcome])
    except BaseException:  # cancelled or failed half-way: never hand that connection on
        smtp.close()
        raise
    relay.give(smtp)


def _signed(app: App, row: Claimed) -> Claimed:
    """The row's VERP envelope sender, with its signature (outbound/verp.py) when there is
    a secret, made at send time from the bounce address the row was queued with."""
    if not row.mail_from:
        return row
    base = envelope_base(row.mail_from, row.id)
    if app.secret:
        return replace(row, mail_from=signed_verp(base, app.secret, row.id))
    local, _, domain = base.partition("@")
    return replace(row, mail_from=f"{local}+{row.id}@{domain}")


async def _send_one(smtp: aiosmtplib.SMTP, row: Claimed) -> AttemptResult:
    try:
        sender = check_address(row.mail_from)
        recipients = [check_address(r) for r in row.recipients]
    except InvalidAddress as exc:
        return AttemptResult(row.id, "failed", str(exc))
    options = _utf8_options(sender, recipients, row.raw)
    try:
        refused = await transaction.send(smtp, sender, recipients, row.raw, options)
    except aiosmtplib.SMTPNotSupported:  # before MAIL FROM: the connection stays usable
        return AttemptResult(row.id, "failed", _NO_SMTPUTF8)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        error = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        await _reset(smtp)
        return AttemptResult(row.id, "failed" if codes and min(codes) >= 500 else "retry", error)
    except aiosmtplib.SMTPResponseException as exc:
        await _reset(smtp)
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
    head = raw.split(b"\r\n\r\n", 1)[0]
    if sender.isascii() and all(r.isascii() for r in recipients) and head.isascii():
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
