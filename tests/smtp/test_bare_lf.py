"""Bare LF in DATA (issue 13): a body whose lines end in LF alone got a permanent 500
"line too long" once 1000 bytes passed without CRLF, so the sender's MTA bounced it.
Decided as Postfix's smtpd_forbid_bare_newline: `normalize` (the default) takes such lines
as CRLF, `reject` answers 550 5.5.2 naming the bare LF; only CRLF.CRLF ends the data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from smtp_helpers import Client, Daemon, prepare, write_config

Factory = type[Daemon]

HEAD = ("From: Carol <carol@customer.example>\nTo: support@example.com\n"
        "Subject: Sent by a script\nMessage-ID: <{mid}@customer.example>\n\n")


def _transaction(port: int, data: bytes) -> str:
    c = Client(port)
    try:
        assert c.replies()[0].startswith("220")
        c.send("EHLO client.example\r\n")
        c.lines()
        c.send("MAIL FROM:<carol@customer.example>\r\nRCPT TO:<support@example.com>\r\n"
               "DATA\r\n")
        assert [r[:3] for r in c.replies(3)] == ["250", "250", "354"]
        c.send(data + b"\r\n.\r\n")
        return c.replies()[0]
    finally:
        c.close()


def _body(mid: str) -> bytes:
    lines = "".join(f"line {n} of a report written with LF line ends\n" for n in range(60))
    return (HEAD.format(mid=mid) + lines + "\n.\nMAIL FROM:<smuggled@evil.example>\n").encode()


def test_bare_lf_lines_are_normalized_and_never_end_the_data(
        tmp_path: Path, daemon_factory: Factory) -> None:
    config = write_config(tmp_path)
    prepare(config)
    d = daemon_factory(config)
    d.start()
    reply = _transaction(d.port(), _body("lf-1"))
    assert reply.startswith("250"), reply
    with sqlite3.connect(d.db_path) as conn:
        (key,), = conn.execute("SELECT raw_key FROM articles")
    raw = d.blob(key)
    assert b"\n" not in raw.replace(b"\r\n", b"")  # every line end is CRLF now
    assert b"line 59 of a report" in raw
    assert b"MAIL FROM:<smuggled@evil.example>" in raw  # "\n.\n" ended nothing
    assert d.articles() == {"lf-1@customer.example": 1}


def test_bare_lf_rejected_with_a_clear_reply_when_configured(
        tmp_path: Path, daemon_factory: Factory) -> None:
    config = write_config(tmp_path, extra_listen="  bare_newline: reject\n")
    prepare(config)
    d = daemon_factory(config)
    d.start()
    assert _transaction(d.port(), _body("lf-2")).startswith("550 5.5.2 Error: bare <LF>")
    crlf = _body("lf-3").replace(b"\n", b"\r\n")
    assert _transaction(d.port(), crlf).startswith("250")
    assert d.articles() == {"lf-3@customer.example": 1}
