"""DATA past the 1 MiB kept in memory (maildesk/smtp/datasink.py, issue 20) keeps every
promise of the small path: LMTP answers once per recipient, dot-stuffed lines come back
unstuffed byte for byte, a mail over the size limit gets 552 after its final dot with the
spilled part dropped, and a bare LF past the spill point is still refused (`reject`)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from smtp_helpers import Client, Daemon, free_port, prepare, write_config

from maildesk.smtp import status
from maildesk.smtp.datasink import SPILL_AT

LIMIT = 3 * SPILL_AT


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    folder: Path = tmp_path_factory.mktemp("bigdata")
    config = write_config(folder, lmtp_port=free_port(), max_message_size=f"{LIMIT}B",
                          extra_listen="  bare_newline: reject\n")
    prepare(config)
    d = Daemon(config)
    d.start()
    yield d
    d.close()


def _mail(message_id: str, size: int) -> bytes:
    """CRLF lines, every fifth one starting with a dot; about `size` bytes."""
    head = (f"From: Carol <carol@customer.example>\r\nTo: support@example.com\r\n"
            f"Subject: big\r\nMessage-ID: <{message_id}>\r\n\r\n").encode()
    lines = [(b"." if n % 5 == 0 else b"") + f"line {n} of a long mail".encode() + b"\r\n"
             for n in range(size // 30)]
    return head + b"".join(lines)


def _stuffed(raw: bytes) -> bytes:
    return b"\r\n".join(b"." + x if x.startswith(b".") else x for x in raw.split(b"\r\n"))


def _lmtp(daemon: Daemon) -> Client:
    c = Client(daemon.port("lmtp"), timeout=30)
    assert c.replies()[0].startswith("220 ")
    c.send("LHLO client.example\r\nMAIL FROM:<carol@customer.example>\r\n"
           "RCPT TO:<support@example.com>\r\nRCPT TO:<billing@example.com>\r\nDATA\r\n")
    c.lines()
    return c


def _raw_sha256(daemon: Daemon, message_id: str) -> str | None:
    with sqlite3.connect(daemon.db_path, timeout=30) as conn:
        row = conn.execute("SELECT raw_sha256 FROM articles WHERE message_id LIKE ?",
                           (f"%{message_id}%",)).fetchone()
    return row[0] if row else None


def test_a_spilled_mail_is_stored_unstuffed_with_a_reply_per_recipient(daemon: Daemon) -> None:
    raw = _mail("spilled@customer.example", 2 * SPILL_AT)
    assert SPILL_AT < len(raw) < LIMIT
    c = _lmtp(daemon)
    assert [r[:3] for r in c.replies(4)] == ["250", "250", "250", "354"]
    c.send(_stuffed(raw) + b".\r\n")
    assert [r[:9] for r in c.replies(2, timeout=30)] == ["250 2.0.0", "250 2.0.0"]
    c.close()
    assert _raw_sha256(daemon, "spilled@customer.example") == hashlib.sha256(raw).hexdigest()


def test_over_the_limit_after_spilling_is_552_after_the_dot(daemon: Daemon) -> None:
    raw = _mail("too-big@customer.example", LIMIT + SPILL_AT)
    c = _lmtp(daemon)
    c.replies(4)
    c.send(_stuffed(raw) + b".\r\n")
    assert c.replies(2, timeout=30) == [status.TOO_BIG, status.TOO_BIG]
    c.close()
    assert _raw_sha256(daemon, "too-big@customer.example") is None


def test_a_bare_lf_after_spilling_is_refused(daemon: Daemon) -> None:
    raw = _mail("bare-lf@customer.example", 2 * SPILL_AT) + b"a bare LF\nend\r\n"
    c = _lmtp(daemon)
    c.replies(4)
    c.send(_stuffed(raw) + b".\r\n")
    assert c.replies(2, timeout=30) == [status.BARE_LF, status.BARE_LF]
    c.close()
    assert _raw_sha256(daemon, "bare-lf@customer.example") is None


def test_the_command_line_limit_is_back_after_a_big_data(daemon: Daemon) -> None:
    """DATA widens the reader's window (no pause and resume of the socket per mail); the
    commands after it still meet aiosmtpd's 512-byte command line limit."""
    raw = _mail("window@customer.example", 200_000)
    c = _lmtp(daemon)
    c.replies(4)
    c.send(_stuffed(raw) + b".\r\n")
    assert [r[:9] for r in c.replies(2, timeout=30)] == ["250 2.0.0", "250 2.0.0"]
    c.send("MAIL FROM:<" + "a" * 3000 + "@customer.example>\r\n")
    assert c.replies()[0].startswith("500 ")
    c.send("NOOP\r\n")
    assert c.replies()[0].startswith("250")
    c.close()
