"""What a request handler reaches: the process's App and a place to run blocking work."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

from fastapi import Depends
from starlette.requests import Request

if TYPE_CHECKING:
    from maildesk.app import App
    from maildesk.http.limits import RateLimiter
    from maildesk.http.metrics import Metrics

__all__ = ["Ctx", "HttpContext", "context"]

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class HttpContext:
    app: App
    pool: Executor  # database work and file reads: never on the event loop
    metrics: Metrics
    limiter: RateLimiter  # per API token
    touched: dict[int, float] = field(default_factory=dict)  # token id: last_used written

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(fn, *args, **kwargs))


def context(request: Request) -> HttpContext:
    ctx: HttpContext = request.app.state.ctx
    return ctx


Ctx = Annotated[HttpContext, Depends(context)]  # a route's `ctx: Ctx` parameter
