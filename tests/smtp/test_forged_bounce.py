"""Forged bounces (issue 13), through the real daemon: `bounces+N@` with N an outbox id
let anyone put an internal "system" note on any ticket. Only a VERP address with its HMAC
(outbound/verp.py) reaches a ticket; the rest is kept in spool/unmatched."""

from __future__ import annotations

import smtplib
import sqlite3
from pathlib import Path

from smtp_helpers import Daemon, mail, prepare, write_config

from maildesk.outbound.verp import signed_verp

Factory = type[Daemon]

DSN = ("From: MAILER-DAEMON@mx.customer.example\r\nTo: {rcpt}\r\n"
       "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <{mid}@mx.example>\r\n"
       "Date: Thu, 26 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
       "Content-Type: text/plain\r\n\r\nThis is a forged note. Call +1 555 0100 now.\r\n")


def _bounce_articles(d: Daemon) -> int:
    with sqlite3.connect(d.db_path, timeout=30) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM articles WHERE kind = 'bounce'")
                   .fetchone()[0])


def test_only_a_signed_verp_address_reaches_a_ticket(tmp_path: Path,
                                                     daemon_factory: Factory) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(
        "autoresponse: {new: false, followup: false}", "autoresponse: {new: true}", 1))
    prepare(config)
    d = daemon_factory(config)
    d.start()
    with smtplib.SMTP("127.0.0.1", d.port(), timeout=20) as s:
        s.sendmail("carol@customer.example", ["support@example.com"],
                   mail("first@customer.example"))  # ticket 1, its auto-response is row 1
        for n, rcpt in enumerate(["bounces+1@example.com", "bounces+1-abcdefgh@example.com"]):
            assert s.sendmail("", [rcpt], DSN.format(rcpt=rcpt, mid=n).encode()) == {}
        assert _bounce_articles(d) == 0
        assert len(list((tmp_path / "var" / "spool" / "unmatched").glob("*.mail"))) == 2
        secret = (tmp_path / "var" / "secret").read_bytes().strip()
        signed = signed_verp("bounces@example.com", secret, 1)
        assert s.sendmail("", [signed], DSN.format(rcpt=signed, mid=9).encode()) == {}
    assert _bounce_articles(d) == 1
