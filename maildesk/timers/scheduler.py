"""The scheduler inside `serve`: sleeps until the next due time, then runs what is due.

No fixed polling: it asks the database for the smallest `due_at` and sleeps until then;
a commit in this process that writes an earlier due time wakes it at once (App.due_written,
set from the worker thread, hops to the loop with call_soon_threadsafe). Due times written
by another process (a second daemon, `maildesk deliver`) are found at the next wake, at
the latest after MAX_SLEEP. At start it runs at once, so what fell due while the daemon was
stopped runs first. Database work runs in its own thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING

from maildesk.store.models import utcnow
from maildesk.timers.run import BATCH, next_due, run_due_on

if TYPE_CHECKING:
    from maildesk.app import App

__all__ = ["MAX_SLEEP", "run_scheduler"]

log = logging.getLogger("maildesk.timers")

MAX_SLEEP = 60.0  # seconds: the bound on noticing a due time another process wrote
ERROR_PAUSE = 5.0  # after a failure (the database away), before trying again


async def run_scheduler(app: App, stop: asyncio.Event, *, max_sleep: float = MAX_SLEEP
                        ) -> None:
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    plan: list[datetime | None] = [None]  # the due time we sleep towards; None: none known

    def written(due: datetime) -> None:
        planned = plan[0]
        if planned is None or due < planned:
            loop.call_soon_threadsafe(wake.set)

    app.due_written = written
    pool = ThreadPoolExecutor(1, "maildesk-timers")
    log.info("scheduler started")
    try:
        while not stop.is_set():
            wake.clear()
            plan[0] = None  # while running: any due time written wakes the next round
            delay = max_sleep
            try:
                rt = app.runtime  # once per run: its batch and its next due time
                done = await loop.run_in_executor(pool, run_due_on, rt)
                if sum(done.values()):
                    log.info("due times: %s", ", ".join(f"{k}={v}" for k, v in
                                                          sorted(done.items())))
                if sum(done.values()) >= BATCH:
                    continue
                due = await loop.run_in_executor(pool, next_due, rt.db)
                plan[0] = due
                if due is not None:
                    delay = min(max((due - utcnow()).total_seconds() + 0.01, 0.0), max_sleep)
            except Exception:
                log.exception("running due times failed; again in %.0f s", ERROR_PAUSE)
                plan[0] = None
                delay = ERROR_PAUSE
            await _sleep(wake, stop, delay)
    finally:
        app.due_written = None
        await loop.run_in_executor(None, pool.shutdown, True)
        log.info("scheduler stopped")


async def _sleep(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
