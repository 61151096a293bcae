"""A bug behind the SMTP layer answers `451 4.3.0` (the sender retries) with no internal
detail, instead of aiosmtpd's `500 Error: (KeyError) ...` that bounces the mail and leaks.

The real App never raises, so the fault is injected with a stand-in App whose methods raise;
the SMTP server, the handler and the client are the real ones, over loopback.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import smtplib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from smtp_helpers import free_port, mail, write_config

from maildesk.config import Config, load_config
from maildesk.intake.message import Envelope
from maildesk.outcome import Outcome
from maildesk.smtp import status
from maildesk.smtp.handler import Handler
from maildesk.smtp.lmtp import MaildeskLMTP
from maildesk.smtp.server import MaildeskSMTP, Sessions

SECRET = "postgresql://maildesk:hunter2@db"


class BrokenApp:
    """Raises where a bug would: in `accepts` for boom@, in `ingest` always."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def accepts(self, address: str) -> bool:
        if address.startswith("boom@"):
            raise RuntimeError(f"lookup failed: {SECRET}")
        return True

    def ingest(self, raw: bytes, envelope: Envelope) -> Outcome:
        raise KeyError(f"bug with {SECRET}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, int]]:
    config = load_config(write_config(tmp_path))
    app = BrokenApp(config)
    loop = asyncio.new_event_loop()
    pool = ThreadPoolExecutor(1)
    handler = Handler(app, pool)  # type: ignore[arg-type]
    sessions = Sessions()
    ports = free_port(), free_port()
    servers = []
    for port, cls in zip(ports, (MaildeskSMTP, MaildeskLMTP), strict=True):
        factory = functools.partial(cls, handler, sessions, config.listen, hostname="test")
        servers.append(loop.run_until_complete(loop.create_server(factory, "127.0.0.1", port)))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield ports
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    for s in servers:
        s.close()
    loop.close()
    pool.shutdown()


def test_exception_in_ingest_is_451_without_detail(server: tuple[int, int],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR), smtplib.SMTP("127.0.0.1", server[0], timeout=10) as s:
        s.ehlo()
        s.mail("carol@customer.example")
        s.rcpt("support@example.com")
        code, text = s.data(mail("bug@test.example"))
        assert (code, text.decode()) == (451, status.INTERNAL_ERROR[4:])
        assert s.noop()[0] == 250  # the session is still in step
        s.mail("carol@customer.example")  # and the failed transaction was reset
    assert "hunter2" in caplog.text  # the detail is in the log, for the admin


def test_exception_in_a_hook_is_451_without_detail(server: tuple[int, int]) -> None:
    with smtplib.SMTP("127.0.0.1", server[0], timeout=10) as s:
        s.ehlo()
        s.mail("carol@customer.example")
        code, text = s.rcpt("boom@example.com")
        assert code == 451 and b"hunter2" not in text and b"Error" not in text


def test_lmtp_gives_one_451_per_recipient(server: tuple[int, int]) -> None:
    with smtplib.LMTP("127.0.0.1", server[1], timeout=10) as s:
        s.ehlo()
        s.mail("carol@customer.example")
        s.rcpt("support@example.com")
        s.rcpt("billing@example.com")
        s.putcmd("data")
        assert s.getreply()[0] == 354
        s.send(mail("bug2@test.example") + b".\r\n")
        replies = [s.getreply() for _ in range(2)]
        assert [code for code, _ in replies] == [451, 451]
        assert all(b"hunter2" not in text for _, text in replies)
        assert s.noop()[0] == 250
