"""The HTTP side of `serve`: what the daemon starts and stops, in one object.

The daemon binds the socket first (a busy port is exit 71 like SMTP's), then `start` runs
uvicorn and the metrics refresher as tasks of its loop; `stop` drains requests in flight
before the daemon closes the database.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from maildesk.http.app import create_app
from maildesk.http.context import HttpContext
from maildesk.http.limits import RateLimiter
from maildesk.http.metrics import REFRESH, Metrics
from maildesk.http.server import EmbeddedServer, bind

if TYPE_CHECKING:
    from maildesk.app import App

__all__ = ["HttpService"]

log = logging.getLogger("maildesk.http")

# Threads for database work of requests: a few readers at once on every backend (SQLite
# writers still queue on the database's own writer lock).
WORKERS = 8


class HttpService:
    def __init__(self, app: App, host: str, port: int) -> None:
        self.sock = bind(host, port)
        self.metrics = Metrics()
        self.pool = ThreadPoolExecutor(WORKERS, "maildesk-http")
        self.ctx = HttpContext(app, self.pool, self.metrics, RateLimiter(
            lambda: (app.config.api.rate_limit, app.config.api.burst)))
        app.observe = self.metrics.observe_ingest
        self.server = EmbeddedServer(create_app(self.ctx), self.sock)
        self._refresher: asyncio.Task[None] | None = None

    @property
    def where(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self.server.start()
        self._refresher = asyncio.create_task(self._refresh_loop(), name="metrics-refresh")

    async def _refresh_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                await loop.run_in_executor(self.pool, self.metrics.refresh, self.ctx.app)
            except Exception as exc:  # the database away: the gauges wait, health tells
                log.debug("metrics refresh failed: %s", exc)
            await asyncio.sleep(REFRESH)

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        await self.server.stop()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.pool.shutdown, True)
        self.ctx.app.observe = None
