"""SMTP and LMTP conformance of a real `maildesk serve`, over loopback, with raw sockets where
the exact bytes matter and smtplib where a normal client is the point.

One daemon serves the whole module (small limits so they are cheap to reach); each test uses
its own Message-IDs, so the tests do not see each other's mail.
"""

from __future__ import annotations

import smtplib
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from smtp_helpers import Client, Daemon, free_port, mail, prepare, write_config

from maildesk.smtp import status

MAX_SIZE = 64 * 1024
MAX_RCPT = 5
PER_CLIENT = 4
TOTAL = 40


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    folder: Path = tmp_path_factory.mktemp("conformance")
    config = write_config(folder, lmtp_port=free_port(), max_message_size="64KiB",
                          max_recipients=MAX_RCPT, idle_timeout="2s",
                          max_connections=TOTAL, max_connections_per_client=PER_CLIENT)
    prepare(config)
    d = Daemon(config)
    d.start()
    yield d
    d.close()


def mid() -> str:
    return f"{uuid.uuid4().hex}@test.example"


def session(port: int, source: str = "127.0.0.1", hello: str = "EHLO") -> Client:
    c = Client(port, source)
    assert c.replies()[0].startswith("220 ")
    c.send(f"{hello} client.example\r\n")
    assert c.lines()[-1].startswith("250 ")
    return c


def wait_for(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_ehlo_advertises_the_extensions_and_no_version(daemon: Daemon) -> None:
    c = Client(daemon.port("smtp"))
    greeting = c.replies()[0]
    assert greeting.startswith("220 ") and "Python" not in greeting
    c.send("EHLO client.example\r\n")
    caps = {line[4:] for line in c.lines()}
    assert {f"SIZE {MAX_SIZE}", "8BITMIME", "SMTPUTF8", "PIPELINING"} <= caps
    assert "STARTTLS" not in caps  # no certificate configured
    c.close()


def test_only_our_addresses_are_recipients(daemon: Daemon) -> None:
    c = session(daemon.port("smtp"))
    c.send("MAIL FROM:<carol@customer.example>\r\n")
    assert c.replies() == ["250 2.1.0 Ok"]
    for rcpt, code in [("someone@elsewhere.example", "550 5.1.1"),  # never a relay
                       ("nobody@example.com", "550 5.1.1"),
                       ("support+vip@example.com", "250 2.1.5"),
                       ("BILLING@Example.COM", "250 2.1.5"),
                       ("bounces+42@example.com", "250 2.1.5")]:
        c.send(f"RCPT TO:<{rcpt}>\r\n")
        assert c.replies()[0].startswith(code), rcpt
    c.send("RSET\r\nMAIL FROM:<>\r\nRCPT TO:<nobody@example.com>\r\nDATA\r\n")
    assert [r[:3] for r in c.replies(4)] == ["250", "250", "550", "503"]
    c.close()


def test_recipients_over_the_limit_get_452_and_the_rest_is_stored_once(daemon: Daemon) -> None:
    m = mid()
    with smtplib.SMTP("127.0.0.1", daemon.port("smtp"), timeout=10) as s:
        rcpts = [f"support+{n}@example.com" for n in range(MAX_RCPT + 1)]
        s.ehlo()
        s.mail("carol@customer.example")
        codes = [s.rcpt(r) for r in rcpts]
        assert [c for c, _ in codes[:MAX_RCPT]] == [250] * MAX_RCPT
        assert codes[MAX_RCPT][0] == 452 and codes[MAX_RCPT][1].startswith(b"4.5.3")
        code, _ = s.data(mail(m))
        assert code == 250
    assert daemon.articles().get(m) == 1


def test_size_limit_at_mail_and_after_data(daemon: Daemon) -> None:
    big = mid()
    c = session(daemon.port("smtp"))
    c.send(f"MAIL FROM:<carol@customer.example> SIZE={MAX_SIZE + 1}\r\n")
    assert c.replies() == [status.TOO_BIG_AT_MAIL]
    c.send("MAIL FROM:<carol@customer.example>\r\nRCPT TO:<support@example.com>\r\nDATA\r\n")
    assert [r[:3] for r in c.replies(3)] == ["250", "250", "354"]
    c.send(mail(big, size=MAX_SIZE + 10) + b".\r\n")
    assert c.replies() == [status.TOO_BIG]  # after the data was drained, not before
    small = mid()  # the session goes on, in sync
    c.send("MAIL FROM:<carol@customer.example>\r\nRCPT TO:<support@example.com>\r\nDATA\r\n")
    assert [r[:3] for r in c.replies(3)] == ["250", "250", "354"]
    c.send(mail(small) + b".\r\n")
    assert c.replies()[0].startswith("250 ")
    c.close()
    stored = daemon.articles()
    assert stored.get(small) == 1 and big not in stored


def test_over_long_line_is_refused_and_nothing_stored(daemon: Daemon) -> None:
    m = mid()
    c = session(daemon.port("smtp"))
    c.send("MAIL FROM:<carol@customer.example>\r\nRCPT TO:<support@example.com>\r\nDATA\r\n")
    c.replies(3)
    c.send(mail(m, body="x" * 5000 + "\r\nafter\r\n") + b".\r\n")
    assert c.replies() == [status.LINE_TOO_LONG]
    c.send("NOOP\r\n")
    assert c.replies()[0].startswith("250")
    c.close()
    assert m not in daemon.articles()


def test_bare_lf_smuggling_does_not_split_the_message(daemon: Daemon) -> None:
    """CVE-2023-51764 style: only CRLF.CRLF ends DATA; whatever hides behind a bare-LF dot
    is text of the one message, not a second transaction."""
    outer, smuggled = mid(), mid()
    hidden = (f"MAIL FROM:<attacker@evil.example>\r\nRCPT TO:<billing@example.com>\r\n"
              f"DATA\r\nMessage-ID: <{smuggled}>\r\nSubject: smuggled\r\n\r\nforged\r\n")
    body = ("Hello\r\n"
            f"one\n.\n{hidden}"
            f"two\r\n.\n{hidden}"
            f"three\n.\r\n{hidden}"
            f"four\r.\r{hidden}"
            "end\r\n")
    c = session(daemon.port("smtp"))
    c.send("MAIL FROM:<carol@customer.example>\r\nRCPT TO:<support@example.com>\r\nDATA\r\n")
    assert [r[:3] for r in c.replies(3)] == ["250", "250", "354"]
    c.send(mail(outer, body=body) + b".\r\n")
    assert c.replies()[0].startswith("250 ")
    c.send("NOOP\r\n")  # exactly one reply came for all of it: the next one is NOOP's
    assert c.replies() == ["250 OK"]
    c.close()
    stored = daemon.articles()
    assert stored.get(outer) == 1 and smuggled not in stored


def test_client_gone_mid_data_stores_nothing(daemon: Daemon) -> None:
    m = mid()
    c = session(daemon.port("smtp"))
    c.send("MAIL FROM:<carol@customer.example>\r\nRCPT TO:<support@example.com>\r\nDATA\r\n")
    c.replies(3)
    c.send(mail(m, size=4000)[:3000])
    c.close()
    time.sleep(0.5)
    assert m not in daemon.articles()
    assert daemon.spooled("inbound") == [] and daemon.spooled("failed") == []


def test_pipelined_transactions(daemon: Daemon) -> None:
    a, b = mid(), mid()
    c = session(daemon.port("smtp"))
    c.send(b"MAIL FROM:<carol@customer.example>\r\nRCPT TO:<support@example.com>\r\nDATA\r\n"
           + mail(a) + b".\r\n"
           + b"MAIL FROM:<carol@customer.example>\r\nRCPT TO:<support@example.com>\r\nDATA\r\n"
           + mail(b) + b".\r\nQUIT\r\n")
    replies = c.replies(9)
    assert [r[:3] for r in replies] == ["250", "250", "354", "250", "250", "250", "354", "250",
                                        "221"]
    c.close()
    stored = daemon.articles()
    assert stored.get(a) == 1 and stored.get(b) == 1


def test_many_concurrent_clients(daemon: Daemon) -> None:
    clients, per_client = 32, 5
    ids = [[mid() for _ in range(per_client)] for _ in range(clients)]

    def run(n: int) -> list[int]:
        source = f"127.0.1.{n // PER_CLIENT + 1}"  # stay under the per-client cap
        with smtplib.SMTP("127.0.0.1", daemon.port("smtp"), timeout=30,
                           source_address=(source, 0)) as s:
            for m in ids[n]:
                refused = s.sendmail("carol@customer.example", ["support@example.com"],
                                     mail(m, size=2000))
                assert refused == {}
            return len(ids[n])

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(run, range(clients)))
    assert results == [per_client] * clients
    stored = daemon.articles()
    assert all(stored.get(m) == 1 for row in ids for m in row)


def test_connection_caps_answer_421(daemon: Daemon) -> None:
    opened: list[Client] = []
    try:
        for _ in range(PER_CLIENT):
            opened.append(Client(daemon.port("smtp"), "127.0.2.1"))
            assert opened[-1].replies()[0].startswith("220")
        extra = Client(daemon.port("smtp"), "127.0.2.1")
        assert extra.replies() == [status.TOO_MANY_CONNECTIONS] and extra.closed_by_peer()
        extra.close()
        other = Client(daemon.port("smtp"), "127.0.2.2")  # another client is still served
        assert other.replies()[0].startswith("220")
        opened.append(other)
        n = 0
        while len(opened) < TOTAL:  # fill the total from more addresses, one slot each
            n += 1  # (the last eighth of the slots is kept for clients holding few)
            opened.append(Client(daemon.port("smtp"), f"127.0.3.{n}"))
            assert opened[-1].replies()[0].startswith("220")
        over = Client(daemon.port("smtp"), "127.0.4.1")
        assert over.replies() == [status.TOO_MANY_CONNECTIONS]
        over.close()
    finally:
        for c in opened:
            c.close()
    assert wait_for(lambda: slot_free(daemon.port("smtp"))), "slots come back once clients leave"


def slot_free(port: int) -> bool:
    c = Client(port, "127.0.2.1")
    try:
        return c.replies()[0].startswith("220")
    finally:
        c.close()


def test_endless_noop_is_cut_off_but_many_mails_per_connection_are_fine(
        daemon: Daemon) -> None:
    c = session(daemon.port("smtp"))
    for _ in range(3):  # mails on one connection are not limited by the NOOP budget
        c.send("MAIL FROM:<carol@customer.example>\r\nRCPT TO:<support@example.com>\r\n"
               "DATA\r\n")
        assert [r[:3] for r in c.replies(3)] == ["250", "250", "354"]
        c.send(mail(mid()) + b".\r\n")
        assert c.replies()[0].startswith("250 ")
    c.send("NOOP\r\n" * 100)
    assert all(r.startswith("250") for r in c.replies(100))
    c.send("NOOP\r\n")
    assert c.replies()[0].startswith("421 4.7.0")
    assert c.closed_by_peer()
    c.close()


def test_idle_client_is_dropped(daemon: Daemon) -> None:
    c = session(daemon.port("smtp"))
    started = time.monotonic()
    assert c.closed_by_peer(timeout=10)
    assert 1.5 < time.monotonic() - started < 8
    c.close()


def test_each_command_restarts_the_idle_clock(daemon: Daemon) -> None:
    """The idle timer is armed once and moves its deadline (issue 20: no timer per command):
    a client that speaks every 0.6 s outlives idle_timeout (2 s) twice over, then is dropped
    one idle_timeout after it falls silent."""
    c = session(daemon.port("smtp"))
    for _ in range(7):
        time.sleep(0.6)
        c.send("NOOP\r\n")
        assert c.replies() == ["250 OK"]
    silent = time.monotonic()
    assert c.closed_by_peer(timeout=10)
    assert 1.5 < time.monotonic() - silent < 8
    c.close()


def test_lmtp_answers_once_per_accepted_recipient(daemon: Daemon) -> None:
    """RFC 2033 4.2: after DATA, one reply per RCPT that got 250, in order (aiosmtpd #517)."""
    m = mid()
    c = session(daemon.port("lmtp"), hello="LHLO")
    c.send("MAIL FROM:<carol@customer.example>\r\nRCPT TO:<support@example.com>\r\n"
           "RCPT TO:<nobody@example.com>\r\nRCPT TO:<billing@example.com>\r\nDATA\r\n")
    assert [r[:9] for r in c.replies(5)] == ["250 2.1.0", "250 2.1.5", "550 5.1.1", "250 2.1.5",
                                             "354 End d"]
    c.send(mail(m) + b".\r\n")
    after = c.replies(2)
    assert all(r.startswith("250 2.0.0") for r in after)
    c.send("NOOP\r\n")  # and no third reply hides in the stream
    assert c.replies() == ["250 OK"]
    c.close()
    assert daemon.articles().get(m) == 1


def test_lmtp_errors_are_per_recipient_too(daemon: Daemon) -> None:
    c = session(daemon.port("lmtp"), hello="LHLO")
    c.send("MAIL FROM:<carol@customer.example>\r\nRCPT TO:<support@example.com>\r\n"
           "RCPT TO:<billing@example.com>\r\nDATA\r\n")
    c.replies(4)
    c.send(mail(mid(), size=MAX_SIZE + 10) + b".\r\n")
    assert c.replies(2) == [status.TOO_BIG, status.TOO_BIG]
    c.send("EHLO x\r\n")
    assert c.replies()[0].startswith("500")  # LMTP speaks LHLO only
    c.close()
