"""The sender: claims due outbox rows and hands them to the relay with aiosmtplib.

Database work (claim, settle) runs in a thread and in its own short transactions; the
SMTP conversation happens between them, never inside one. Per row the relay's answer
decides: 2xx sent; 4xx, a refused connection or a timeout retry with backoff; 5xx for the
recipient or the message failed at once (no retry storm). A crash between the relay's 250
and the settle sends the row again after its lease: same bytes, same Message-ID.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiosmtplib

from maildesk.outbound.outbox import Claimed, Outcome, claim_due, settle, worker_name
from maildesk.outbound.render import InvalidAddress, check_address

if TYPE_CHECKING:
    from maildesk.app import App

__all__ = ["Pass", "run_sender", "send_due", "send_due_once"]

log = logging.getLogger("maildesk.outbox")

BATCH = 100  # rows claimed per pass
CONNECTIONS = 4  # parallel relay connections per pass
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Pass:
    claimed: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0


async def run_sender(app: App, stop_event: asyncio.Event, *, poll: float = POLL_SECONDS,
                     worker: str | None = None) -> None:
    """Send until `stop_event` is set; a pass that found work is followed at once by
    another, an idle one waits `poll` seconds (or until stopped)."""
    worker = worker or worker_name()
    log.info("outbox sender %s started, relay %s:%d", worker, *app.config.outbound.relay)
    while not stop_event.is_set():
        try:
            result = await send_due(app, worker=worker)
        except Exception:  # the loop must outlive a database blip; the rows wait
            log.exception("outbox pass failed")
            result = Pass()
        if result.claimed == 0:
            try:
                await asyncio.wait_for(stop_event.wait(), timeout=poll)
            except TimeoutError:
                pass
    log.info("outbox sender %s stopped", worker)


def send_due_once(app: App, *, limit: int = BATCH) -> int:
    """One pass from synchronous code (tests, benchmarks, cron): the number sent."""
    return asyncio.run(send_due(app, limit=limit)).sent


async def send_due(app: App, *, worker: str | None = None, limit: int = BATCH) -> Pass:
    """Claim up to `limit` due rows, send them over a few connections, settle them."""
    worker = worker or worker_name()
    claimed = await asyncio.to_thread(claim_due, app.db, worker, limit)
    if not claimed:
        return Pass()
    lanes = [claimed[i::CONNECTIONS] for i in range(min(CONNECTIONS, len(claimed)))]
    results = await asyncio.gather(*(_send_lane(app, lane) for lane in lanes))
    outcomes = [o for lane in results for o in lane]
    failed = await asyncio.to_thread(settle, app, outcomes)
    for outbox_id in failed:
        log.warning("outbox %d failed for good", outbox_id)
    counts = {r: sum(1 for o in outcomes if o.result == r) for r in ("sent", "retry", "failed")}
    return Pass(len(claimed), counts["sent"], counts["retry"], counts["failed"])


def _password(app: App) -> str | None:
    path = app.config.outbound.password_file
    return path.read_text().strip() if path is not None else None


async def _send_lane(app: App, rows: list[Claimed]) -> list[Outcome]:
    """Send rows one by one over one connection; on a broken connection the rest wait."""
    out = app.config.outbound
    host, port = out.relay
    smtp = aiosmtplib.SMTP(hostname=host, port=port, timeout=60, use_tls=False,
                           start_tls=bool(out.starttls))
    outcomes: list[Outcome] = []
    try:
        await smtp.connect()
        if out.username:
            await smtp.login(out.username, _password(app) or "")
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        error = f"relay {host}:{port}: {_describe(exc)}"
        log.warning("outbox: cannot reach %s", error)
        # Even a 5xx here (greeting, AUTH) is the relay's state, not the mail's: retry.
        return [Outcome(r.id, "retry", error) for r in rows]
    try:
        for row in rows:
            if not smtp.is_connected:
                outcomes.append(Outcome(row.id, "retry", "connection to the relay lost"))
                continue
            outcomes.append(await _send_one(smtp, row))
    finally:
        if smtp.is_connected:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                smtp.close()
    return outcomes


async def _send_one(smtp: aiosmtplib.SMTP, row: Claimed) -> Outcome:
    try:
        sender = check_address(row.mail_from)
        recipients = [check_address(r) for r in row.recipients]
    except InvalidAddress as exc:
        return Outcome(row.id, "failed", str(exc))
    try:
        refused, _reply = await smtp.sendmail(sender, recipients, row.raw)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        error = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        await _reset(smtp)
        return Outcome(row.id, "failed" if codes and min(codes) >= 500 else "retry", error)
    except aiosmtplib.SMTPResponseException as exc:
        await _reset(smtp)
        return Outcome(row.id, "failed" if exc.code >= 500 else "retry", _describe(exc))
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        smtp.close()
        return Outcome(row.id, "retry", _describe(exc))
    if refused:  # only with several recipients; each row has one, so this is defensive
        error = "; ".join(f"{a}: {r.code} {r.message}" for a, r in refused.items())
        return Outcome(row.id, "sent", f"partly refused: {error}")
    return Outcome(row.id, "sent")


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
