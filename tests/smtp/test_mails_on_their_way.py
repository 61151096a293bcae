"""A group commit waits for the mails the SMTP sessions have on their way (issue 20).

The sessions count the transactions they are inside (MAIL given, not yet answered); the
batcher subtracts the mails it holds unanswered, and a batch collects until nothing more
is on its way. Counted over real sessions on loopback with the real App and Batcher:
every way out of a transaction (the reply, RSET, a dropped connection) takes it off the
count, so no batch lingers for a mail that will not come.
"""

from __future__ import annotations

import asyncio
import functools
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from smtp_helpers import free_port, mail, prepare, write_config
from sqlalchemy import event, func, select

from maildesk.app import App, open_app
from maildesk.batch import Batcher
from maildesk.config import load_config
from maildesk.intake.message import Envelope
from maildesk.smtp.handler import Handler
from maildesk.smtp.server import MaildeskSMTP, Sessions
from maildesk.store.models import Article


class Served:
    def __init__(self, app: App, sessions: Sessions, batcher: Batcher, port: int,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.app, self.sessions, self.batcher, self.port = app, sessions, batcher, port
        self.loop = loop

    def counts(self) -> tuple[int, int]:
        """(sessions inside a transaction, mails unanswered), read on the loop."""
        return asyncio.run_coroutine_threadsafe(self._counts(), self.loop).result(10)

    async def _counts(self) -> tuple[int, int]:
        return self.sessions.busy, self.batcher._unanswered

    def settles_to(self, expected: tuple[int, int]) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.counts() == expected:
                return True
            time.sleep(0.02)
        return self.counts() == expected


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    config = write_config(tmp_path)
    prepare(config)
    app = open_app(load_config(config))
    sessions = Sessions()
    batcher = Batcher(app, workers=1, transactions=sessions.transactions)
    loop = asyncio.new_event_loop()
    port = free_port()
    factory = functools.partial(MaildeskSMTP, Handler(app, batcher), sessions,
                                app.config.listen, hostname="test")
    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", port))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield Served(app, sessions, batcher, port, loop)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    server.close()
    loop.close()
    batcher.shutdown()
    app.close()


def test_every_way_out_of_a_transaction_takes_it_off_the_count(served: Served) -> None:
    with smtplib.SMTP("127.0.0.1", served.port, timeout=10) as client:
        client.ehlo()
        assert client.mail("carol@customer.example")[0] == 250
        assert served.settles_to((1, 0))  # a mail may be on its way
        assert client.rset()[0] == 250
        assert served.settles_to((0, 0))
        client.mail("carol@customer.example")
        client.rcpt("support@example.com")
        assert client.data(mail("way-1@customer.example"))[0] == 250
        with served.app.db.reading() as session:  # stored, not spooled
            assert session.execute(select(func.count()).select_from(Article)).scalar_one() == 1
        assert served.settles_to((0, 0))  # answered: neither on its way nor unanswered
        client.mail("carol@customer.example")
        assert served.settles_to((1, 0))
    assert served.settles_to((0, 0))  # QUIT inside a transaction

    dropped = socket.create_connection(("127.0.0.1", served.port), timeout=10)
    reader = dropped.makefile("rb")
    reader.readline()
    dropped.sendall(b"EHLO test\r\nMAIL FROM:<carol@customer.example>\r\n")
    while not reader.readline().startswith(b"250 "):  # the EHLO's last line
        pass
    assert reader.readline().startswith(b"250")  # MAIL
    assert served.settles_to((1, 0))
    reader.close()
    dropped.close()  # the connection lost in mid-transaction
    assert served.settles_to((0, 0))


def _batcher(app: App, on_the_way: Callable[[], int]) -> Batcher:
    return Batcher(app, workers=1, linger=30.0, transactions=on_the_way)


def test_a_batch_waits_for_a_mail_on_its_way_and_no_longer(served: Served) -> None:
    envelope = Envelope("carol@customer.example", ("support@example.com",))
    commits: list[int] = []
    event.listen(served.app.db.engine, "commit", lambda conn: commits.append(1))
    announced = [2]  # two mails on their way: the batch waits for the second
    batcher = _batcher(served.app, lambda: announced[0])
    try:
        announced[0] = 1
        first = batcher.submit_mail(mail("way-2@customer.example"), envelope)
        time.sleep(0.3)
        assert not first.done()  # waiting for the one still on its way
        announced[0] = 0
        second = batcher.submit_mail(mail("way-3@customer.example"), envelope)
        assert [f.result(timeout=20).code for f in (first, second)] == [250, 250]
        assert len(commits) == 1  # one group commit for both

        started = time.monotonic()  # nothing on its way: no linger at all
        assert batcher.submit_mail(mail("way-4@customer.example"), envelope
                                   ).result(timeout=20).code == 250
        assert time.monotonic() - started < 15  # not the 30 s linger, nor 2.5 times it
    finally:
        batcher.shutdown()
