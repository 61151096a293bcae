"""A budget on mail held in memory while it is parsed and stored (issue 13, memory).

While DATA arrives a mail costs at most `datasink.SPILL_AT` of memory (beyond it, it goes
to a file), but storing it reads it back whole and parses it: about 4x its size at the
peak. Twenty concurrent 20 MiB mails took the daemon to 841 MiB; 200 connections of 25 MiB
would take 8-10 GB. So the bytes of mail being ingested at once are counted against
`listen.memory_budget`: a mail whose turn would exceed it waits (SMTP clients wait minutes
for the final reply, RFC 5321 4.5.3.2.6), and one that cannot get its share within
`WAIT` is answered `452 4.3.1` and retried by its MTA later, as Postfix answers 452 when
its queue cannot take more. A mail bigger than the whole budget still goes through, alone,
so any mail under `max_message_size` can be delivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["BudgetSpent", "MemoryBudget", "WAIT"]

log = logging.getLogger("maildesk.smtp")

WAIT = 60.0  # seconds a mail waits for its share before 452


class BudgetSpent(Exception):
    """The mail could not get its share of the budget in time: answer 452."""


class MemoryBudget:
    """Bytes of mail in ingest at once, at most `limit` (one mail alone may exceed it).
    Used from the event loop only: no lock beyond the loop's own turn-taking."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.peak = 0  # the most held at once (bench and tests)
        self.waited = 0  # mails that had to wait for their share
        self.refused = 0  # mails answered 452
        self._changed = asyncio.Condition()
        self._waiting = 0  # mails inside `hold`'s wait for their share

    def _fits(self, size: int) -> bool:
        return self.held == 0 or self.held + size <= self.limit

    def hold_now(self, size: int) -> bool:
        """Hold `size` bytes when they fit now and the lock is free: what `hold` then does,
        without its context manager and lock (issue 20: ~5 -> ~1 us a mail in the event
        loop). False: nothing held, use `hold`. Release with `release`."""
        if self._changed.locked() or not self._fits(size):
            return False
        self.held += size
        self.peak = max(self.peak, self.held)
        return True

    async def release(self, size: int) -> None:
        """Give back `size` bytes; a waiting mail is told (under the lock) only when one
        waits: without one, the lock and notify_all would change nothing."""
        if not self._waiting and not self._changed.locked():
            self.held -= size
            return
        async with self._changed:
            self.held -= size
            self._changed.notify_all()

    @asynccontextmanager
    async def hold(self, size: int, wait: float = WAIT) -> AsyncIterator[None]:
        """Hold `size` bytes while the block runs; BudgetSpent after `wait` seconds."""
        async with self._changed:
            if not self._fits(size):
                self.waited += 1
                log.info("memory budget: a mail of %d bytes waits (%d of %d bytes held)",
                         size, self.held, self.limit)
                self._waiting += 1
                try:
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: self._fits(size)), wait)
                except TimeoutError:
                    self.refused += 1
                    log.warning("memory budget of %d bytes spent (%d held): a mail of %d "
                                "bytes answered 452", self.limit, self.held, size)
                    raise BudgetSpent from None
                finally:
                    self._waiting -= 1
            self.held += size
            self.peak = max(self.peak, self.held)
        try:
            yield
        finally:
            await self.release(size)
