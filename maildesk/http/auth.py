"""Bearer tokens on every `/api/v1` route: who is asking, may they, how often.

401 for a missing or unknown token, 403 for a write with a read token (queues are
checked where the ticket is known: `Caller.sees`), 429 with Retry-After past the token's
rate. `last_used_at` is written at most once a minute per token, so reads stay reads.

The token's row is looked up on the HTTP thread pool, in the same hop as the work it
guards (`run_as`): a read route hops to a worker thread once, not once for the token and
again for the ticket (each hop is a wake-up of the event loop, and under load a wait for
the GIL; issue 15, bench/api.py). A missing header is refused before any hop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Annotated, Concatenate, ParamSpec, TypeVar

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from maildesk.http import tokens
from maildesk.http.context import Ctx, HttpContext
from maildesk.http.errors import ApiError
from maildesk.http.tokens import Caller

__all__ = ["Bearer", "WriteCaller", "authenticate", "run_as"]

P = ParamSpec("P")
T = TypeVar("T")

_bearer = HTTPBearer(auto_error=False, description="a token from `maildesk token create`")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def authenticate(ctx: HttpContext, token: str) -> Caller:
    """The caller of `token`, counted against its rate (blocking: on a worker thread)."""
    caller = _checked(ctx, token)
    _touch(ctx, caller)
    return caller


def _checked(ctx: HttpContext, token: str) -> Caller:
    with ctx.rt.db.reading() as session:
        caller = tokens.find(session, token)
    if caller is None:
        raise ApiError(401, "unknown or revoked token", headers=_CHALLENGE)
    wait = ctx.limiter.take(str(caller.id))
    if wait > 0:
        raise ApiError(429, f"rate limit of {ctx.rt.config.api.rate_limit:g} requests/s for "
                            "this token (api.rate_limit)",
                       headers={"Retry-After": str(max(1, math.ceil(wait)))})
    return caller


def _touch(ctx: HttpContext, caller: Caller) -> None:
    """`last_used_at`, at most once a minute per token (a write transaction)."""
    now = time.monotonic()
    if now - ctx.touched.get(caller.id, -math.inf) >= tokens.TOUCH_EVERY.total_seconds():
        ctx.touched[caller.id] = now
        with ctx.rt.db.transaction() as session:
            tokens.touch(session, caller.id)


async def _token(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                        Depends(_bearer)]) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "an Authorization: Bearer token is required", headers=_CHALLENGE)
    return credentials.credentials.strip()


async def run_as(ctx: HttpContext, token: str, fn: Callable[Concatenate[Caller, P], T],
                 *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(caller, ...)` on the thread pool after the token check, in one hop and one
    read transaction (the token's row and what `fn` reads: store.db's `one_read`); the
    token's last use is written after it, even when `fn` refused (404, 403)."""
    def work() -> T:
        caller: Caller | None = None
        try:
            with ctx.rt.db.one_read():
                caller = _checked(ctx, token)
                return fn(caller, *args, **kwargs)
        finally:
            if caller is not None:
                _touch(ctx, caller)
    return await ctx.run(work)


async def _caller(ctx: Ctx, token: Annotated[str, Depends(_token)]) -> Caller:
    return await ctx.run(authenticate, ctx, token)


async def _writer(caller: Annotated[Caller, Depends(_caller)]) -> Caller:
    if not caller.may_write():
        raise ApiError(403, f"token {caller.name!r} has the read scope; this needs write")
    return caller


Bearer = Annotated[str, Depends(_token)]  # a read route's token, checked by `run_as`
WriteCaller = Annotated[Caller, Depends(_writer)]
