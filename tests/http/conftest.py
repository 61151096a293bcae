"""A real `maildesk serve` with `listen.http` on loopback, and an HTTP client for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import Desk
from tests.db.serving import Served, Sink, free_port


@dataclass
class Api:
    desk: Desk
    served: Served
    url: str
    smtp_port: int
    client: httpx.Client

    def token(self, name: str = "app", *args: str) -> str:
        result = self.desk.cli("token", "create", name, *args)
        assert result.returncode == 0, result.stderr.decode()
        return result.stdout.decode().strip().splitlines()[-1]


def serve_api(desk: Desk, config_extra: str = "", relay_port: int | None = None) -> Api:
    smtp, http = free_port(), free_port()
    text = desk.config_path.read_text().replace(
        "smtp: 127.0.0.1:0", f"smtp: 127.0.0.1:{smtp}\n  http: 127.0.0.1:{http}")
    text = text.replace("outbound:\n", "outbound:\n  retry_first: 1\n", 1)
    if relay_port is not None:
        text = text.replace("relay: 127.0.0.1:2\n", f"relay: 127.0.0.1:{relay_port}\n")
    desk.config_path.write_text(text + config_extra)
    served = Served(desk, smtp)
    url = f"http://127.0.0.1:{http}"
    return Api(desk, served, url, smtp, httpx.Client(base_url=url, timeout=30))


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.stop()


@pytest.fixture
def api_factory(desk: Desk, sink: Sink) -> Iterator[Callable[..., Api]]:
    started: list[Api] = []

    def start(config_extra: str = "") -> Api:
        api = serve_api(desk, config_extra, sink.port)
        started.append(api)
        return api

    yield start
    for api in started:
        api.client.close()
        api.served.stop()


@pytest.fixture
def api(api_factory: Callable[..., Api]) -> Api:
    return api_factory()
