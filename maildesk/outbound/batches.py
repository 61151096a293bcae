"""The sender's database side, in batches (issue 20): due rows claimed and rendered in one
thread hop, outcomes of every lane settled in shared commits.

Each thread hop and each transaction is paid per batch, not per mail: the claim and the
rendering of up to a hundred rows are one hop (two transactions: the claim writes, the
rendering only reads, so SQLite's write lock is not held while templates run); a lane
hands its outcome to the `Settler` and goes on, and the outcomes that arrive while one
commit runs all go into the next, or into the next claim's transaction, which commits
them at no cost of its own (a commit is most of a settle's CPU on SQLite: its WAL write).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.orm import Session

from maildesk.config import Config
from maildesk.events import DeliveryFailed
from maildesk.outbound.dispatch import dispatch
from maildesk.outbound.outbox import (
    AttemptResult,
    Claimed,
    React,
    claim_in,
    note_settle_failure,
    settle,
    settle_in,
)
from maildesk.store.db import TRANSIENT_ERRORS, Database

if TYPE_CHECKING:
    from maildesk.outbound import deferred

__all__ = ["App", "Ready", "Settler", "Source", "claim_ready", "render_ready"]

log = logging.getLogger("maildesk.outbox")


class App(Protocol):
    """What the sender uses of the runtime (`maildesk.runtime.Runtime`, read again for each
    batch, commit and connection, so a reload is seen there and never half-way through)."""

    @property
    def config(self) -> Config: ...
    @property
    def db(self) -> Database: ...
    @property
    def secret(self) -> bytes: ...


class Source(Protocol):
    """Where `run_sender` reads the runtime of the moment (the process's App)."""

    @property
    def runtime(self) -> App: ...


@dataclass
class Ready:
    """What one claim hop came to (`claim_ready`)."""

    rows: list[Claimed]  # claimed; rendered ones `fresh`
    broken: dict[int, str]  # the reason per row that could not be rendered (left out)
    failed: list[int]  # rows of the settled outcomes that failed for good
    error: Exception | None = None  # rendering raised after the claim committed


def claim_ready(app: App, worker: str, claim: str, limit: int, lease: timedelta,
                render: bool, settling: list[AttemptResult] | None = None,
                react: React | None = None) -> Ready:
    """Settle `settling` and claim up to `limit` due rows under the mark `claim`, in one
    transaction, and, with `render`, render the ones queued as what to send. Blocking: one
    thread hop for all of it. When the transaction raises, nothing of it was done.

    What the rendering reads (the specs, the quoted articles) is read in that transaction
    and the templates run after its commit: a read transaction of its own per claim cost
    a session, a connection and its BEGIN and ROLLBACK (issue 20)."""
    from maildesk.outbound import deferred

    loaded: deferred.Loaded | None = None
    with app.db.transaction() as session:
        failed = settle_in(session, app.config, settling, react) if settling else []
        session.flush()  # the claim sees the settled rows as they now are
        rows = claim_in(session, worker, limit, lease, claim)
        todo = _to_render(rows) if render else []
        if todo:
            loaded = deferred.load_claimed(session, todo)
    if not render:
        return Ready(rows, {}, failed)
    try:
        return Ready(*render_ready(app, rows, loaded), failed)
    except Exception as exc:  # the claim and the settle are committed: say so, then raise
        return Ready([], {}, failed, exc)


def _to_render(rows: list[Claimed]) -> list[Claimed]:
    return [r for r in rows if r.kind != "webhook" and r.spec and not r.raw]


def render_ready(app: App, rows: list[Claimed], loaded: deferred.Loaded | None = None
                 ) -> tuple[list[Claimed], dict[int, str]]:
    """`rows` with the mails queued as what to send rendered (outbound/deferred.py), in a
    read transaction unless `loaded` holds what `deferred.load_claimed` read for them; the
    reason per row that could not be, those rows left out."""
    from maildesk.outbound import deferred

    todo = _to_render(rows)
    if not todo:
        return rows, {}
    if loaded is not None:
        built, broken = deferred.render_claimed(None, app.config, todo, loaded)
    else:
        with app.db.reading() as session:
            built, broken = deferred.render_claimed(session, app.config, todo)
    ready = {r.id: r for r in built}
    return [ready.get(r.id, r) for r in rows if r.id not in broken], broken


class Settler:
    """Group commit of outcomes: `submit` queues them and returns the future of their
    commit at once. A commit costs ~1.8 ms of CPU whether it holds one row or sixteen
    (0.14 ms a row more), so one starts when `group` outcomes wait, when someone waits for
    one (`wait`), or `WINDOW` after the first; what arrives while it runs goes into the
    next. A batch that fails is settled mail by mail: one bad row costs only itself.

    The claimer takes what waits into its claim's transaction (`take`): under a steady
    flow the outcomes of one claim's mails ride on the next claim, and their commit costs
    nothing of its own. `WINDOW` is longer than the claimer's gather time for that; a lane
    that needs a commit (the crash bound, outbound/sender.py) still gets it at once."""

    WINDOW = 0.25  # seconds an outcome may wait for others (or the next claim) to share its commit

    def __init__(self, current: Callable[[], App], held: set[int]) -> None:
        self._current = current  # the runtime of the moment (a reload is seen per commit)
        self.held = held  # rows claimed and not yet settled or released (renewed meanwhile)
        self.counts: Counter[str] = Counter()  # sent / retry / failed, as committed
        self.group = 1  # outcomes that start a commit at once (outbound/lanes.py sets it)
        self._queue: list[tuple[list[AttemptResult], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._kick = asyncio.Event()

    @property
    def app(self) -> App:
        return self._current()

    def submit(self, outcomes: list[AttemptResult]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not outcomes:
            future.set_result(None)
            return future
        self._queue.append((outcomes, future))
        if self._task is None:
            self._task = asyncio.create_task(self._commit())
        return future

    def take(self) -> list[tuple[list[AttemptResult], asyncio.Future[None]]]:
        """The outcomes waiting for a commit that has not begun: the claimer commits them
        with its claim (`Flow.fill`) and hands them back with `finish`, or with `back`
        when that transaction failed (they are then settled here, as ever)."""
        taken, self._queue = self._queue, []
        return taken

    def finish(self, taken: list[tuple[list[AttemptResult], asyncio.Future[None]]],
               failed: list[int]) -> None:
        """`taken` is committed (`failed`: the rows of it that failed for good)."""
        self._done([o for outcomes, _ in taken for o in outcomes], failed)
        for _, future in taken:
            if not future.done():
                future.set_result(None)

    def back(self, taken: list[tuple[list[AttemptResult], asyncio.Future[None]]]) -> None:
        """`taken` was not committed: settled here, at once."""
        if not taken:
            return
        self._queue[:0] = taken
        if self._task is None:
            self._task = asyncio.create_task(self._commit())
        self._kick.set()

    async def settle(self, outcomes: list[AttemptResult]) -> None:
        await self.wait(self.submit(outcomes))

    async def wait(self, future: asyncio.Future[None]) -> None:
        """Until `future`'s commit is done (raises what it raised); it starts now."""
        if not future.done():
            self._kick.set()
        await future

    async def drain(self) -> None:
        """Until every outcome submitted so far is committed (or failed)."""
        while self._task is not None:
            self._kick.set()
            await asyncio.wait([self._task])

    async def _commit(self) -> None:
        try:
            while self._queue:
                if sum(len(o) for o, _ in self._queue) < self.group:
                    try:
                        await asyncio.wait_for(self._kick.wait(), self.WINDOW)
                    except TimeoutError:
                        pass
                self._kick.clear()
                if not self._queue:  # the claimer took them (`take`)
                    break
                batch, self._queue = self._queue, []
                every = [o for outcomes, _ in batch for o in outcomes]
                app = self.app
                try:
                    failed = await asyncio.to_thread(settle, app.db, app.config, every,
                                                     self.react)
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
            self._task = None

    def react(self, session: Session, events: list[DeliveryFailed]) -> None:
        """Mail about rows that failed for good (a note to an answer's owner)."""
        app = self.app
        dispatch(session, app.config, app.secret, events)

    def _done(self, outcomes: list[AttemptResult], failed: list[int]) -> None:
        for outbox_id in failed:
            log.warning("outbox %d failed for good", outbox_id)
        self.counts.update(o.result for o in outcomes)
        self.held.difference_update(o.id for o in outcomes)

    async def _alone(self, outcomes: list[AttemptResult], future: asyncio.Future[None]) -> None:
        app = self.app
        try:
            failed = await asyncio.to_thread(settle, app.db, app.config, outcomes, self.react)
        except Exception as exc:
            ids = [o.id for o in outcomes]
            log.error("outbox %s: settle failed: %s", ids, exc, exc_info=True)
            # No longer renewed: the lease runs out and the row is sent again (at least
            # once), unless its settle failed too often for that (below).
            self.held.difference_update(ids)
            if not isinstance(exc, TRANSIENT_ERRORS):  # a bug, not the database away
                try:
                    marked = await asyncio.to_thread(note_settle_failure, app.db, ids,
                                                     f"{type(exc).__name__}: {exc}")
                except Exception:
                    log.exception("outbox %s: cannot count the settle failure", ids)
                else:
                    for outbox_id in marked:
                        log.error("outbox %d marked failed: its settle keeps failing",
                                  outbox_id)
            if not future.done():
                future.set_exception(exc)
            return
        self._done(outcomes, failed)
        if not future.done():
            future.set_result(None)
