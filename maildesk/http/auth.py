"""Bearer tokens on every `/api/v1` route: who is asking, may they, how often.

401 for a missing or unknown token, 403 for a write with a read token (queues are
checked where the ticket is known: `Caller.sees`), 429 with Retry-After past the token's
rate. `last_used_at` is written at most once a minute per token, so reads stay reads.
"""

from __future__ import annotations

import math
import time
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from maildesk.http import tokens
from maildesk.http.context import Ctx, HttpContext
from maildesk.http.errors import ApiError
from maildesk.http.tokens import Caller

__all__ = ["ReadCaller", "WriteCaller"]

_bearer = HTTPBearer(auto_error=False, description="a token from `maildesk token create`")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _lookup(ctx: HttpContext, token: str) -> Caller | None:
    with ctx.rt.db.reading() as session:
        return tokens.find(session, token)


def _touch(ctx: HttpContext, token_id: int) -> None:
    with ctx.rt.db.transaction() as session:
        tokens.touch(session, token_id)


async def _caller(ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None,
                                                   Depends(_bearer)]) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "an Authorization: Bearer token is required", headers=_CHALLENGE)
    caller = await ctx.run(_lookup, ctx, credentials.credentials.strip())
    if caller is None:
        raise ApiError(401, "unknown or revoked token", headers=_CHALLENGE)
    wait = ctx.limiter.take(str(caller.id))
    if wait > 0:
        raise ApiError(429, f"rate limit of {ctx.rt.config.api.rate_limit:g} requests/s for "
                            "this token (api.rate_limit)",
                       headers={"Retry-After": str(max(1, math.ceil(wait)))})
    now = time.monotonic()
    if now - ctx.touched.get(caller.id, -math.inf) >= tokens.TOUCH_EVERY.total_seconds():
        ctx.touched[caller.id] = now
        await ctx.run(_touch, ctx, caller.id)
    return caller


async def _writer(caller: Annotated[Caller, Depends(_caller)]) -> Caller:
    if not caller.may_write():
        raise ApiError(403, f"token {caller.name!r} has the read scope; this needs write")
    return caller


ReadCaller = Annotated[Caller, Depends(_caller)]
WriteCaller = Annotated[Caller, Depends(_writer)]
