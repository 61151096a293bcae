"""DKIM replay and retargeting (issue 13), through the real daemon over loopback.

Alice's DKIM-signed `/close` (our MTA's Authentication-Results say dkim=pass) closes her
ticket. Sent again with new MTA headers, it must not act again; with an unsigned
In-Reply-To added, it must not act on another ticket; signed days ago, it proves nothing.
"""

from __future__ import annotations

import smtplib
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path
from unittest import mock

import dkim
import pytest
from smtp_helpers import Daemon, mail, prepare, write_config

Factory = type[Daemon]
TRUSTED = "mx.example.com"
SIGNED = [b"from", b"to", b"subject", b"message-id", b"date", b"in-reply-to", b"references"]


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("dkim") / "key.pem"
    subprocess.run(["openssl", "genrsa", "-traditional", "-out", str(path), "1024"],
                   check=True, capture_output=True, timeout=60)
    return path.read_bytes()


@pytest.fixture
def daemon(tmp_path: Path, daemon_factory: Factory) -> Daemon:
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(
        "  system_id: 10\n", f"  system_id: 10\n  trusted_authserv_ids: [{TRUSTED}]\n", 1))
    prepare(config)
    d = daemon_factory(config)
    d.start()
    return d


def _query(d: Daemon, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(d.db_path, timeout=30) as conn:
        return conn.execute(sql, args).fetchall()


def _send(d: Daemon, sender: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", d.port(), timeout=20) as s:
        assert s.sendmail(sender, ["support@example.com"], raw) == {}


def _ticket(d: Daemon, n: int) -> tuple[str, str]:
    """A customer's new ticket: (number, the Message-ID of the customer's mail)."""
    mid = f"customer-{n}-{uuid.uuid4().hex[:6]}@customer.example"
    _send(d, "carol@customer.example", mail(mid, subject=f"Problem {n}"))
    [(number,)] = _query(d, "SELECT t.number FROM tickets t JOIN articles a "
                            "ON a.ticket_id = t.id WHERE a.message_id = ?", mid)
    return str(number), mid


def _state(d: Daemon, number: str) -> str:
    return str(_query(d, "SELECT state FROM tickets WHERE number = ?", number)[0][0])


def _signed(key: bytes, number: str, body: str = "/close\n", signed: list[bytes] = SIGNED,
            when: float | None = None) -> bytes:
    text = (f"From: Alice Example <alice@example.com>\r\nTo: support@example.com\r\n"
            f"Subject: Re: [Ticket#{number}] Problem\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@example.com>\r\n"
            "Date: Thu, 26 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body.replace("\n", "\r\n"))
    with mock.patch.object(dkim.time, "time", return_value=when or time.time()):
        signature = dkim.sign(text.encode(), b"sel", b"example.com", key,
                              include_headers=signed)
    return signature + text.encode()


def _delivered(signed: bytes, *extra: str) -> bytes:
    """What our MTA hands over: its Received and Authentication-Results (dkim=pass: the
    signature is valid for the signed headers), plus any header an attacker put on top."""
    head = "".join(f"{h}\r\n" for h in extra)
    return (f"Authentication-Results: {TRUSTED}; dkim=pass header.d=example.com\r\n"
            f"Received: from mail.example.com by {TRUSTED}; {uuid.uuid4().hex}\r\n"
            + head).encode() + signed


def _refusals(d: Daemon, number: str) -> list[str]:
    return [str(r) for (r,) in _query(
        d, "SELECT h.details_json FROM history h JOIN tickets t ON t.id = h.ticket_id "
           "WHERE t.number = ? AND h.event = 'command refused'", number)]


def test_a_replayed_signed_command_acts_once(daemon: Daemon, key: bytes) -> None:
    number, _ = _ticket(daemon, 1)
    close = _signed(key, number)
    _send(daemon, "alice@example.com", _delivered(close))
    assert _state(daemon, number).startswith("closed")
    _send(daemon, "carol@customer.example",
          mail("carol-again@customer.example", subject=f"Re: [Ticket#{number}] Problem"))
    assert _state(daemon, number) == "open"
    # the captured mail again, with new MTA headers, and with an unsigned header added
    _send(daemon, "alice@example.com", _delivered(close))
    _send(daemon, "alice@example.com", _delivered(close, "Comments: once more"))
    assert _state(daemon, number) == "open"
    assert any("applied already" in r for r in _refusals(daemon, number))


def test_an_unsigned_in_reply_to_cannot_retarget_a_signed_command(daemon: Daemon,
                                                                  key: bytes) -> None:
    first, _ = _ticket(daemon, 1)
    other, other_mid = _ticket(daemon, 2)
    # signed as many mail clients sign: the headers present, no In-Reply-To oversigned
    close = _signed(key, first, signed=[b"from", b"to", b"subject", b"message-id", b"date"])
    _send(daemon, "alice@example.com", _delivered(close, f"In-Reply-To: <{other_mid}>"))
    assert _state(daemon, other) == "new"
    assert _state(daemon, first) == "new"
    assert any("does not cover In-Reply-To" in r for r in _refusals(daemon, other))


def test_a_signature_must_cover_subject_and_be_recent(daemon: Daemon, key: bytes) -> None:
    number, _ = _ticket(daemon, 1)
    _send(daemon, "alice@example.com", _delivered(_signed(
        key, number, signed=[b"from", b"to", b"message-id"])))
    assert _state(daemon, number) == "new"
    _send(daemon, "alice@example.com", _delivered(_signed(
        key, number, when=time.time() - 3 * 86400)))
    assert _state(daemon, number) == "new"
    reasons = " ".join(_refusals(daemon, number))
    assert "does not cover Subject" in reasons and "too old" in reasons
    _send(daemon, "alice@example.com", _delivered(_signed(key, number)))  # a fresh one works
    assert _state(daemon, number).startswith("closed")
