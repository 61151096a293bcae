"""uvicorn inside `serve`'s event loop, with maildesk owning the signals.

`uvicorn.Server.serve` wraps itself in `capture_signals()`, which installs its own SIGTERM
and SIGINT handlers and re-raises the signal once it returns: the daemon's handler would
run twice, or the process would die before its cleanup (research/wave2.md section 1). The
no-op override leaves signals to the daemon, which stops us with `should_exit`.
tests/http/test_serve.py fails loudly if an upgrade renames the method.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

__all__ = ["EmbeddedServer", "bind"]

log = logging.getLogger("maildesk.http")

GRACE_SECONDS = 10.0  # requests in flight at shutdown get this long


class EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def __init__(self, app: ASGIApp, sock: socket.socket) -> None:
        config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False,
                                timeout_graceful_shutdown=int(GRACE_SECONDS),
                                server_header=False, proxy_headers=False)
        super().__init__(config)
        self.sock = sock
        self.task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        self.task = asyncio.create_task(self.serve(sockets=[self.sock]), name="http")
        return self.task

    async def stop(self) -> None:
        """No new connections; requests in flight finish (bounded); returns when done."""
        self.should_exit = True
        if self.task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.task), GRACE_SECONDS + 5)
            except TimeoutError:
                log.warning("HTTP did not stop in time; cancelling")
                self.task.cancel()
            except SystemExit:  # uvicorn's own sys.exit on a startup failure
                log.error("the HTTP server failed to start")


def bind(host: str, port: int) -> socket.socket:
    """Bound here, not by uvicorn: a busy port is an OSError for the daemon to report (exit
    71), where uvicorn would call sys.exit(3) from inside a task."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says
    # TCP. Without it every answer after the first on a kept-alive connection (headers and
    # body are two writes) waited for the client's delayed ACK: 40 ms per request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(512)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
