"""What a request handler reaches: the runtime its request captured, the process's App and
a place to run blocking work.

`context` (the `Ctx` dependency) captures `app.runtime` once per request (FastAPI makes a
dependency once per request, so every `Ctx` of one request is the same object): a reload in
the middle of a request cannot give its two database calls two configs. Handlers use
`ctx.rt`; `ctx.app` stays for what is the process's and not the runtime's (metrics, the
reload hooks).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

from fastapi import Depends
from starlette.requests import Request

if TYPE_CHECKING:
    from maildesk.app import App
    from maildesk.http.limits import RateLimiter
    from maildesk.http.metrics import Metrics
    from maildesk.runtime import Runtime

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
    captured: Runtime | None = None  # set on the per-request copy `context` makes

    @property
    def rt(self) -> Runtime:
        """The runtime this request captured (outside a request: the App's current one)."""
        return self.captured if self.captured is not None else self.app.runtime

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(fn, *args, **kwargs))


def context(request: Request) -> HttpContext:
    """This request's context: the process's, with the runtime of this moment captured."""
    shared: HttpContext = request.app.state.ctx
    return replace(shared, captured=shared.app.runtime)


async def _context(request: Request) -> HttpContext:
    """`context` as the dependency: a coroutine although it never waits, because FastAPI
    runs a plain function dependency on AnyIO's thread pool, a thread hop per request for
    a dataclass copy (issue 15)."""
    return context(request)


Ctx = Annotated[HttpContext, Depends(_context)]  # a route's `ctx: Ctx` parameter
