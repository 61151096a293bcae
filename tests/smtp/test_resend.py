"""Resends with other trace headers (issue 13): the same mail (Message-ID, From, body)
delivered again with another Received, Delivered-To, Return-Path or X-Original-To (an MTA
retry after a lost final reply; the pipe transport's one copy per recipient) is one
ticket, one article, one auto-response and one notification; the extra recipients are
recorded on the ticket. Through the real daemon over loopback."""

from __future__ import annotations

import json
import smtplib
import sqlite3
import time
from pathlib import Path

from smtp_helpers import Daemon, mail, prepare, write_config

Factory = type[Daemon]


def _autoresponding(tmp_path: Path) -> Path:
    config = write_config(tmp_path)
    text = config.read_text().replace("autoresponse: {new: false, followup: false}",
                                      "autoresponse: {new: true, followup: true}", 1)
    config.write_text(text)
    return config


def _query(d: Daemon, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(d.db_path, timeout=30) as conn:
        return conn.execute(sql).fetchall()


def _traced(raw: bytes, *trace: str) -> bytes:
    return "".join(f"{line}\r\n" for line in trace).encode() + raw


def test_one_mail_with_four_sets_of_trace_headers_is_one_ticket(
        tmp_path: Path, daemon_factory: Factory) -> None:
    config = _autoresponding(tmp_path)
    prepare(config)
    d = daemon_factory(config)
    d.start()
    raw = mail("resend-1@customer.example", subject="Printer on fire")
    copies = [
        (["support@example.com"], _traced(
            raw, "Return-Path: <carol@customer.example>", "Delivered-To: support@example.com",
            "Received: from mx1 by mx.example.com with ESMTP id AAA; Wed, 25 Nov 2026")),
        (["support@example.com"], _traced(  # the MTA's retry after a lost final reply
            raw, "Return-Path: <carol@customer.example>", "Delivered-To: support@example.com",
            "Received: from mx1 by mx.example.com with ESMTP id BBB; Wed, 25 Nov 2026")),
        (["billing@example.com"], _traced(  # the pipe transport's copy for billing@
            raw, "Return-Path: <carol@customer.example>", "X-Original-To: billing@example.com",
            "Delivered-To: billing@example.com",
            "Received: from mx2 by mx.example.com with ESMTP id CCC; Wed, 25 Nov 2026")),
        (["support@example.com"], raw.replace(b"\r\n", b"\n")),  # the same, LF line ends
    ]
    with smtplib.SMTP("127.0.0.1", d.port(), timeout=20) as s:
        for rcpts, data in copies:
            assert s.sendmail("carol@customer.example", rcpts, data) == {}
    assert _query(d, "SELECT COUNT(*) FROM tickets") == [(1,)]
    assert _query(d, "SELECT COUNT(*) FROM articles") == [(1,)]
    kinds = dict(_query(d, "SELECT kind, COUNT(*) FROM outbox GROUP BY kind"))
    assert kinds == {"autoreply": 1, "notification": 1}
    extra = [json.loads(str(details)) for (details,) in _query(
        d, "SELECT details_json FROM history WHERE event = 'duplicate delivery'")]
    assert [e["recipients"] for e in extra] == [["billing@example.com"]]


def test_a_changed_body_under_the_same_message_id_is_not_a_duplicate(
        tmp_path: Path, daemon_factory: Factory) -> None:
    """Only the trace headers are ignored: the key is the content, not the Message-ID."""
    config = write_config(tmp_path)
    prepare(config)
    d = daemon_factory(config)
    d.start()
    with smtplib.SMTP("127.0.0.1", d.port(), timeout=20) as s:
        s.sendmail("carol@customer.example", ["support@example.com"],
                   mail("same-id@customer.example", body="First text.\r\n"))
        s.sendmail("carol@customer.example", ["support@example.com"],
                   mail("same-id@customer.example", body="Another text.\r\n"))
    deadline = time.monotonic() + 5
    while _query(d, "SELECT COUNT(*) FROM articles") != [(2,)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _query(d, "SELECT COUNT(*) FROM articles") == [(2,)]
