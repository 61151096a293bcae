"""A budget on mail held in memory while it is parsed and stored (issue 13): mails whose
turn would exceed `listen.memory_budget` wait, one that waits too long gets 452 4.3.1,
a mail bigger than the whole budget still goes through alone. The budget itself on a real
event loop here; big concurrent mails through the real daemon in
tests/drills/test_memory_budget.py."""

from __future__ import annotations

import asyncio

from maildesk.smtp.budget import BudgetSpent, MemoryBudget


def test_mails_wait_for_their_share_and_never_exceed_it() -> None:
    async def scenario() -> tuple[int, int, list[str]]:
        budget = MemoryBudget(100)
        order: list[str] = []

        async def one(name: str, size: int, hold: float) -> None:
            async with budget.hold(size, wait=5):
                order.append(f"{name}+")
                await asyncio.sleep(hold)
                order.append(f"{name}-")

        await asyncio.gather(one("a", 60, 0.2), one("b", 60, 0.01), one("c", 30, 0.01))
        return budget.peak, budget.waited, order

    peak, waited, order = asyncio.run(scenario())
    assert peak <= 100 and waited == 1
    assert order.index("b+") > order.index("a-")  # b waited for a's bytes


def test_a_mail_bigger_than_the_budget_goes_alone_and_a_long_wait_gets_452() -> None:
    async def scenario() -> tuple[list[str], int]:
        budget = MemoryBudget(10)
        seen: list[str] = []

        async def big() -> None:
            async with budget.hold(50, wait=1):
                seen.append("big in")
                await asyncio.sleep(0.3)

        async def late() -> None:
            await asyncio.sleep(0.05)
            try:
                async with budget.hold(5, wait=0.1):
                    seen.append("late in")
            except BudgetSpent:
                seen.append("452")

        await asyncio.gather(big(), late())
        return seen, budget.refused

    seen, refused = asyncio.run(scenario())
    assert seen == ["big in", "452"] and refused == 1


def test_hold_now_and_release_as_hold_does() -> None:
    """The handler's fast path (issue 20): held at once when the share fits, declined when
    it does not; its release wakes a mail waiting in `hold`."""
    async def scenario() -> tuple[list[str], int, int]:
        budget = MemoryBudget(100)
        order: list[str] = []
        assert budget.hold_now(60) and budget.held == 60
        assert not budget.hold_now(60) and budget.held == 60

        async def waiter() -> None:
            async with budget.hold(60, wait=5):
                order.append("b+")
            order.append("b-")

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0.05)
        order.append("a-")
        await budget.release(60)
        await task
        assert budget.hold_now(100)
        await budget.release(100)
        return order, budget.held, budget.waited

    order, held, waited = asyncio.run(scenario())
    assert order == ["a-", "b+", "b-"] and held == 0 and waited == 1
