"""The web pages over real HTTP on loopback: the application `serve` runs (create_app, in
uvicorn as `serve` embeds it), in a thread of the test process so tests can also reach
the database; httpx clients as browsers; and helpers to sign in."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import httpx
import pytest

from maildesk.app import App
from maildesk.http.app import create_app
from maildesk.http.context import HttpContext
from maildesk.http.limits import RateLimiter
from maildesk.http.metrics import Metrics
from maildesk.http.server import EmbeddedServer, bind
from maildesk.http.web import sessions
from tests.conftest import Desk, simple_mail

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
T = TypeVar("T")


@dataclass
class Web:
    desk: Desk
    app: App
    url: str
    client: httpx.Client
    _others: list[httpx.Client] = field(default_factory=list)

    def browser(self) -> httpx.Client:
        """Another browser: its own cookies."""
        client = httpx.Client(base_url=self.url, timeout=30)
        self._others.append(client)
        return client

    def sign_in(self, address: str, kind: str = "agent",
                client: httpx.Client | None = None) -> httpx.Client:
        client = client or self.client
        token = sessions.start(self.app.db, kind, address, None)
        client.cookies.set("maildesk_session", token)
        return client

    def csrf(self, client: httpx.Client | None = None, path: str = "/login") -> str:
        page = (client or self.client).get(path)
        found = CSRF.search(page.text)
        assert found, page.text[:500]
        return found.group(1)

    def ticket(self, subject: str = "Printer on fire", sender: str = "carol@example.org",
               to: str = "support@example.com", body: str = "Hello,\nthe printer.\n") -> str:
        from maildesk.intake.message import Envelope

        outcome = self.app.ingest(simple_mail(subject=subject, sender=sender, to=to,
                                              body=body),
                                  Envelope(sender=sender, recipients=(to,)))
        assert outcome.ticket, outcome
        return outcome.ticket


def eventually(check: Callable[[], T], seconds: float = 10.0) -> T:
    """What the server does after answering (the login mail): wait for it, bounded."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def serve_web(desk: Desk) -> Iterator[Web]:
    app = desk.app()
    pool = ThreadPoolExecutor(4, "test-web")
    ctx = HttpContext(app, pool, Metrics(), RateLimiter(lambda: (1000.0, 1000)))
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = EmbeddedServer(create_app(ctx), sock)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> None:
        server.start()
        while not server.started:
            await asyncio.sleep(0.01)

    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    url = f"http://127.0.0.1:{port}"
    web = Web(desk, app, url, httpx.Client(base_url=url, timeout=30))
    try:
        yield web
    finally:
        for client in [web.client, *web._others]:
            client.close()
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
        sock.close()
        pool.shutdown(wait=True)
        app.close()


@pytest.fixture
def web(desk: Desk) -> Iterator[Web]:
    yield from serve_web(desk)
