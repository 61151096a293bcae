"""The sender's lanes (issue 20): rows flow from the claimer's queue to the relay without
passes, a lane per relay connection, each taking the next ready row as soon as its
connection is free; outcomes go to the `Settler` (outbound/batches.py). The policy (what
a crash may resend, what a stop does) is told in outbound/sender.py, which runs this.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiosmtplib

from maildesk.outbound.batches import App, Ready, Settler, claim_ready, render_ready
from maildesk.outbound.outbox import (
    LEASE,
    AttemptResult,
    Claimed,
    claim_mark,
    evolve,
    release,
    renew,
)
from maildesk.outbound.relay import Relay
from maildesk.outbound.verp import envelope_base, signed_verp

__all__ = ["Ahead", "Flow", "Send", "first_of", "signed"]

log = logging.getLogger("maildesk.outbox")


@dataclass(frozen=True)
class Ahead:
    """A row a lane took as its previous mail's final dot went out (RFC 2920 pipelining):
    `started` is the sender's note that its commands went behind that dot on the lane's
    connection; None: it is sent anew."""

    row: Claimed
    started: object | None = None


# One row's mail (or one `Ahead`) over a connection, given what takes the next ready row
# when one is at hand as its dot goes out: its outcome and that next row, if taken.
Send = Callable[[aiosmtplib.SMTP, Claimed | Ahead, Callable[[], Claimed | None]],
                Awaitable[tuple[AttemptResult, Ahead | None]]]
_RELAY_ERRORS = (aiosmtplib.SMTPException, OSError, TimeoutError)


async def first_of(seconds: float | None, *events: asyncio.Event | None) -> None:
    """Until `seconds` pass (None: no limit) or one of `events` is set."""
    if any(e is not None and e.is_set() for e in events):
        return
    waiters = [asyncio.ensure_future(e.wait()) for e in events if e is not None]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class Flow:
    """One sender's rows on their way: claimed into `ready`, sent by lanes (a relay
    connection each), settled by the `Settler`, their leases renewed while held."""

    def __init__(self, current: Callable[[], App], worker: str, relay: Relay,
                 stop: asyncio.Event | None, send: Send, describe: Callable[[BaseException], str],
                 *, lease: timedelta = LEASE, connections: int | None = None) -> None:
        self.current, self.worker, self.relay, self.stop = current, worker, relay, stop
        self.send, self.describe = send, describe  # sender.py's SMTP transaction
        self.lease, self.fixed = lease, connections  # None: outbound.connections, as it is
        self.claim = claim_mark(worker)  # one mark for the flow's life: one renew, one release
        self.held: set[int] = set()
        self.settler = Settler(current, self.held)
        self.ready: asyncio.Queue[Claimed | None] = asyncio.Queue()
        self.low = asyncio.Event()  # set when fewer rows are ready than there are lanes
        self.relay_error: str | None = None  # why the relay did not answer, until it does
        self.relay_seen = False  # a connection to it worked: render in the claim's hop
        self.errors: list[BaseException] = []  # settles that failed (send_due raises one)
        self.lanes: list[asyncio.Task[None]] = []
        self.posts: set[asyncio.Task[None]] = set()  # webhook rows (HTTP, not the relay)
        self.renewing = asyncio.create_task(self._renew())
        self._resize()

    def _want(self) -> int:
        return self.fixed or self.current().config.outbound.connections

    def _resize(self) -> None:
        """As many lanes as wanted (a reload may change it; a lane past it ends)."""
        # Outcomes wait for the next claim's commit, a lane that needs theirs before it
        # sends again, or the settler's window: at most two a lane wait without one of
        # those, so they never start a commit by their number alone (issue 20: that cost
        # a commit of its own for most outcomes under a steady flow).
        self.settler.group = 2 * self._want() + 1
        for index in range(self._want()):
            if index == len(self.lanes):
                self.lanes.append(asyncio.create_task(self._lane(index)))
            elif self.lanes[index].done():
                self.lanes[index] = asyncio.create_task(self._lane(index))

    async def fill(self, limit: int) -> int:
        """Claim up to `limit` due rows for the lanes, rendered in the same thread hop
        once the relay has answered; the number claimed."""
        self._resize()
        app = self.current()
        render = self.relay_seen and self.relay_error is None
        ready = await self._claim(app, limit, render)
        rows, broken = ready.rows, ready.broken
        rows = [r for r in rows if r.id not in self.held]  # ours already (a lapsed lease)
        broken = {i: why for i, why in broken.items() if i not in self.held}
        self.held.update([r.id for r in rows], broken)
        hooks = [r for r in rows if r.kind == "webhook"]
        mails = [r for r in rows if r.kind != "webhook"]
        if hooks:
            from maildesk.webhooks.post import post_webhooks

            self._post(post_webhooks(app, hooks, self.settler.settle))
        try:
            await self._queue(app, mails, broken, render)
        except BaseException:  # no longer renewed: their leases run out, they are tried then
            self.held.difference_update([r.id for r in mails], broken)
            raise
        return len(rows) + len(broken)

    async def _claim(self, app: App, limit: int, render: bool) -> Ready:
        """The claim's thread hop, which commits the outcomes waiting for the settler too
        (one commit instead of two); when that transaction fails, they go back to the
        settler and the claim is made alone, as before."""
        taken = self.settler.take()
        every = [o for outcomes, _ in taken for o in outcomes]
        hop = asyncio.ensure_future(asyncio.to_thread(
            claim_ready, app, self.worker, self.claim, limit, self.lease, render, every,
            self.settler.react))
        try:
            ready = await asyncio.shield(hop)
        except asyncio.CancelledError:  # the thread goes on: its outcome decides theirs
            hop.add_done_callback(lambda done: self._claimed(taken, done))
            raise
        except Exception:
            if not taken:
                raise
            self.settler.back(taken)
            ready = await asyncio.to_thread(claim_ready, app, self.worker, self.claim,
                                            limit, self.lease, render)
        else:
            self.settler.finish(taken, ready.failed)
        if ready.error is not None:
            raise ready.error
        return ready

    def _claimed(self, taken: list[tuple[list[AttemptResult], asyncio.Future[None]]],
                 hop: asyncio.Future[Ready]) -> None:
        if hop.cancelled() or hop.exception() is not None:
            self.settler.back(taken)
        else:
            self.settler.finish(taken, hop.result().failed)

    async def _queue(self, app: App, mails: list[Claimed], broken: dict[int, str],
                     render: bool) -> None:
        """The claimed mails into `ready`, rendered first if the claim did not."""
        if mails and not render:
            # The relay first: while it is down the rows are retries, not rendered in vain.
            if await self._relay_answers():
                mails, broken = await asyncio.to_thread(render_ready, app, mails)
            else:
                await self._settled(self.settler.submit(
                    [AttemptResult(r.id, "retry", self.relay_error) for r in mails]))
                mails = []
        if broken:
            from maildesk.outbound.failures import BUILD_FAILED

            await self._settled(self.settler.submit(
                [AttemptResult(i, "retry", f"{BUILD_FAILED}: {why}", built=False)
                 for i, why in broken.items()]))
        for row in mails:
            self.ready.put_nowait(row)
        self._note_level()

    async def hungry(self, stop: asyncio.Event) -> None:
        """Until fewer rows are ready than there are lanes, or `stop` is set."""
        while self.ready.qsize() >= self._want() and not stop.is_set():
            self.low.clear()
            await first_of(None, stop, self.low)

    def _note_level(self) -> None:
        if self.ready.qsize() < self._want():
            self.low.set()

    async def _relay_answers(self) -> bool:
        """Whether the relay takes a connection (given back for the first lane)."""
        smtp = await self._connect(again=True)
        if smtp is not None:
            self.relay.give(smtp)
        return smtp is not None

    async def _connect(self, again: bool = False) -> aiosmtplib.SMTP | None:
        """A connection; None when the relay did not answer (a 5xx to EHLO or AUTH is
        the relay's too). Once it did not, lanes wait for the claimer to see it answer
        (`again`) instead of each trying it for every row."""
        if self.relay_error is not None and not again:
            return None
        config = self.current().config
        try:
            smtp = await self.relay.take(config)
        except _RELAY_ERRORS as exc:
            host, port = config.outbound.relay
            self.relay_error = f"relay {host}:{port}: {self.describe(exc)}"
            log.warning("outbox: cannot reach %s", self.relay_error)
            return None
        self.relay_seen, self.relay_error = True, None
        return smtp

    async def _lane(self, index: int) -> None:
        """Send ready rows one by one over one connection, each outcome handed to the
        settler; before a mail goes out, the settle of the one before the last is
        committed (only then: a lane with nothing more to send leaves its outcomes to the
        next claim's commit, issue 20). When the next row is ready as a mail's final dot
        goes out, the sender may send its commands behind that dot (RFC 2920: one round
        trip less a mail); that row is then the lane's next, even when stopping (it is in
        flight). An idle lane gives its connection back to the relay pool."""
        smtp: aiosmtplib.SMTP | None = None
        behind: asyncio.Future[None] | None = None  # the last mail's settle
        before: asyncio.Future[None] | None = None  # the settle of the mail before it
        job: Claimed | Ahead | None = None  # taken as the last mail's dot went out
        ended = False  # the end (None) was taken behind a dot
        taken: list[Claimed] = []  # by `take`, as the mail in flight's dot went out

        def take() -> Claimed | None:
            nonlocal ended
            if (ended or index >= self._want() or self.ready.empty()
                    or (self.stop is not None and self.stop.is_set())):
                return None
            following = self.ready.get_nowait()
            self._note_level()
            if following is None:
                ended = True
                return None
            taken.append(following)
            return signed(self.current(), following)

        try:
            while job is not None or (not ended and index < self._want()):
                if job is None:
                    if smtp is not None and self.ready.empty():
                        self.relay.give(smtp)  # idle: the pool closes it after KEEP_IDLE
                        smtp = None
                    got = await self.ready.get()
                    self._note_level()
                    if got is None or (self.stop is not None and self.stop.is_set()):
                        break  # the untried rows are handed back by close
                    job = signed(self.current(), got)
                row = job.row if isinstance(job, Ahead) else job
                if before is not None:  # a crash resends at most the last two mails
                    await self._settled(before)
                    before = None
                if smtp is None or not smtp.is_connected:
                    smtp = await self._connect()
                    job = row  # anything begun went with the old connection
                taken.clear()
                try:
                    if smtp is None:
                        outcome, job = AttemptResult(row.id, "retry", self.relay_error), None
                    else:
                        outcome, job = await self.send(smtp, job, take)
                except Exception:  # a bug: the lease runs out and the row is tried again
                    log.exception("outbox %d: sending failed", row.id)
                    self.held.discard(row.id)
                    if smtp is not None:
                        smtp.close()
                    smtp = None
                    job = signed(self.current(), taken[0]) if taken else None  # anew
                    continue
                done = self.settler.submit([evolve(outcome, raw=row.raw) if row.fresh
                                            else outcome])
                before, behind = behind, done
        except BaseException:  # cancelled half-way: never hand that connection on
            if smtp is not None:
                smtp.close()
            raise
        for future in (before, behind):
            if future is not None:
                await self._settled(future)
        if smtp is not None:
            self.relay.give(smtp)

    async def _settled(self, future: asyncio.Future[None]) -> None:
        try:
            await self.settler.wait(future)
        except Exception as exc:  # logged (and counted against the rows) by the settler
            if len(self.errors) < 10:  # send_due raises the first; a daemon runs on
                self.errors.append(exc)

    def _post(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.posts.add(task)
        task.add_done_callback(self._posted)

    def _posted(self, task: asyncio.Task[None]) -> None:
        self.posts.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(task.exception())  # type: ignore[arg-type]
            log.error("outbox: posting webhooks failed", exc_info=task.exception())

    async def _renew(self) -> None:
        """Keep the held rows leased (a slow relay, a long queue): one UPDATE for all."""
        every = max(self.lease.total_seconds() / 3, 0.05)
        while True:
            await asyncio.sleep(every)
            if not self.held:
                continue
            try:
                await asyncio.to_thread(renew, self.current().db, self.claim,
                                        sorted(self.held), self.lease)
            except Exception:  # a blip: the next renewal may get through before the lease ends
                log.exception("outbox: renewing leases failed")

    async def close(self, *, own_relay: bool) -> None:
        """End the lanes (after the ready rows, or at once when stopped), wait for every
        settle and post; when stopped, rows never tried are handed back."""
        for _ in self.lanes:
            self.ready.put_nowait(None)
        try:
            ended = await asyncio.gather(*self.lanes, *self.posts, return_exceptions=True)
            self.errors.extend(e for e in ended if isinstance(e, Exception))
            await self.settler.drain()
        finally:
            self.renewing.cancel()
            untried = sorted(self.held)
            if untried and self.stop is not None and self.stop.is_set():
                await asyncio.to_thread(release, self.current().db, self.claim, untried)
            if own_relay:
                await self.relay.close()


def signed(app: App, row: Claimed) -> Claimed:
    """The row's VERP envelope sender, with its signature (outbound/verp.py) when there is
    a secret, made at send time from the bounce address the row was queued with."""
    if not row.mail_from:
        return row
    base = envelope_base(row.mail_from, row.id)
    if app.secret:
        return evolve(row, mail_from=signed_verp(base, app.secret, row.id))
    local, _, domain = base.partition("@")
    return evolve(row, mail_from=f"{local}+{row.id}@{domain}")
