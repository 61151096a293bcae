"""A real SMTP relay on loopback that records what it gets (a sink), and desks that send
through it. The sink can refuse: a number of 4xx answers to DATA, or 5xx for recipients."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from maildesk.outbound.sender import send_due_once
from tests.conftest import Desk, make_desk


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    mail_options: list[str] = field(default_factory=list)
    peer: Any = None  # the client's (host, port): which connection carried the mail

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=default)  # type: ignore[return-value]


@dataclass
class SinkHandler:
    received: list[Received] = field(default_factory=list)
    tempfail_data: int = 0  # answer DATA with 451 this many times
    refuse: set[str] = field(default_factory=set)  # recipients answered with 550
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.tempfail_data > 0:
                self.tempfail_data -= 1
                return "451 4.3.0 Please try again later"
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.original_content or b"",
                                          list(envelope.mail_options), session.peer))
        return "250 2.0.0 Ok: queued"


class Sink:
    """An aiosmtpd server on 127.0.0.1 in its own thread."""

    def __init__(self, port: int | None = None, *, smtputf8: bool = False) -> None:
        self.port = port or free_port()
        self.handler = SinkHandler()
        self.controller: Controller | None = None
        self.smtputf8 = smtputf8  # offer SMTPUTF8 in EHLO (aiosmtpd's default: no)

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]

    def start(self) -> Sink:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     enable_SMTPUTF8=self.smtputf8)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sink() -> Iterator[Sink]:
    relay = Sink().start()
    yield relay
    relay.stop()


OUTBOUND = "  bounce_address: bounces@example.com\n"


def outbound_desk(root: Path, port: int, *, outbound: str = "", instance: str = "",
                  extra: str = "") -> Desk:
    """A desk whose relay is `port`; `outbound`/`instance` lines are added to those
    sections (indented by two spaces), `extra` appended at the end."""
    desk = make_desk(root, relay_port=port, extra=extra)
    text = desk.config_path.read_text()
    text = text.replace(OUTBOUND, OUTBOUND + outbound, 1)
    text = text.replace("  system_id: 10\n", "  system_id: 10\n" + instance, 1)
    desk.config_path.write_text(text)
    return desk


@pytest.fixture
def odesk(tmp_path: Path, sink: Sink) -> Desk:
    return outbound_desk(tmp_path / "desk", sink.port, outbound="  retry_first: 0.05s\n")


@pytest.fixture
def odesk_factory(tmp_path: Path) -> Callable[..., Desk]:
    counter = iter(range(1000))

    def factory(port: int, **kwargs: str) -> Desk:
        return outbound_desk(tmp_path / f"desk{next(counter)}", port, **kwargs)

    return factory


def send(desk: Desk) -> int:
    """Run sender passes until nothing is due right now; the number sent."""
    app = desk.app()
    try:
        total = 0
        for _ in range(20):
            sent = send_due_once(app)
            total += sent
            if sent == 0:
                break
        return total
    finally:
        app.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
