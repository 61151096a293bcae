"""Request bodies capped at `listen.max_message_size` (413 before the body is read whole),
and a token bucket per API token (429 with Retry-After).

The body cap is a plain ASGI middleware rather than FastAPI's `max_body_size`: it reads
the limit from the config in force at each request, so SIGHUP changes it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maildesk.http.errors import envelope

__all__ = ["BodyLimit", "RateLimiter"]


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(scope, receive, send, limit)
            return
        seen = 0
        answered = False

        async def send_once(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
            await send(message)

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        try:
            await self.app(scope, counted, send_once)
        except _TooLarge:
            if not answered:
                await _too_large(scope, receive, send, limit)


class _TooLarge(HTTPException):
    """An HTTPException, so FastAPI's body reader passes it on (anything else it turns
    into a 400) and the envelope handler answers it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _message(limit), headers={"Connection": "close"})


def _message(limit: int) -> str:
    return f"the request body is larger than {limit} bytes (listen.max_message_size)"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = envelope(413, _message(limit), headers={"Connection": "close"})
    await response(scope, receive, send)


class RateLimiter:
    """A token bucket per key: `rate` requests per second on average, `burst` at once;
    both read from `settings` at each request, so a reloaded config applies at once."""

    def __init__(self, settings: Callable[[], tuple[float, int]]) -> None:
        self.settings = settings
        self._buckets: dict[str, tuple[float, float]] = {}  # key: (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed; else the seconds until a request would be."""
        rate, burst = self.settings()
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - at) * rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / rate if rate > 0 else math.inf
