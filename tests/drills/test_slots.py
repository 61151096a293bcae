"""Slot holding (issue 13): a few addresses sending RSET every few seconds held every
connection slot indefinitely. Now the last eighth of the slots is kept for clients that
hold few, RSET and the other non-mail commands share one budget, and a session that
completes no mail within `max_time_without_mail` is closed. Bounded: small limits (8
slots, 4 per client, 3 s without mail), a few seconds."""

from __future__ import annotations

import smtplib
import time
from pathlib import Path

from smtp_helpers import Client, Daemon, mail, prepare, write_config

from maildesk.smtp import status
from maildesk.smtp.server import JUNK_LIMIT


def _holders(port: int, source: str, count: int) -> list[Client]:
    out = []
    for _ in range(count):
        c = Client(port, source)
        greeting = c.replies()[0]
        if not greeting.startswith("220"):
            c.close()
            break
        c.send("EHLO holder.example\r\n")
        c.lines()
        out.append(c)
    return out


def test_rset_holders_cannot_keep_every_slot(tmp_path: Path, daemons: list[Daemon]) -> None:
    config = write_config(tmp_path, max_connections=8, max_connections_per_client=4,
                          extra_listen="  max_time_without_mail: 3s\n")
    prepare(config)
    d = Daemon(config)
    daemons.append(d)
    d.start()
    port = d.port()
    holders = _holders(port, "127.0.0.2", 4) + _holders(port, "127.0.0.3", 4)
    # the second address stops at the reserve: a slot stays free for others
    assert len(holders) == 7
    started = time.monotonic()
    for c in holders:  # keep busy the way the attack did
        c.send("RSET\r\n")
        assert c.replies()[0].startswith("250")
    with smtplib.SMTP("127.0.0.1", port, timeout=10, source_address=("127.0.0.9", 0)) as s:
        assert s.sendmail("carol@customer.example", ["support@example.com"],
                          mail("served@customer.example")) == {}
    # no mail within 3 s: each holder is told 421 4.4.2 and closed, RSETs or not
    for c in holders:
        try:
            while True:
                c.send("RSET\r\n")
                reply = c.replies(timeout=10)[0]
                if not reply.startswith("250"):
                    assert reply == status.NO_MAIL_TIMEOUT
                    break
                time.sleep(0.5)
        except (ConnectionError, OSError):
            pass  # closed while we wrote: also gone
        finally:
            c.close()
    assert time.monotonic() - started < 10
    assert d.articles() == {"served@customer.example": 1}


def test_rset_and_noop_share_one_budget(tmp_path: Path, daemons: list[Daemon]) -> None:
    config = write_config(tmp_path)
    prepare(config)
    d = Daemon(config)
    daemons.append(d)
    d.start()
    c = Client(d.port())
    try:
        assert c.replies()[0].startswith("220")
        half = JUNK_LIMIT // 2
        c.send("RSET\r\n" * half + "NOOP\r\n" * (JUNK_LIMIT - half))
        assert all(r.startswith("250") for r in c.replies(JUNK_LIMIT))
        c.send("RSET\r\n")
        assert c.replies()[0] == status.TOO_MANY_COMMANDS
        assert c.closed_by_peer()
    finally:
        c.close()
