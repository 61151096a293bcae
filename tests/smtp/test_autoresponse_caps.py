"""Auto-response caps beside the per-sender one (issue 13), through the real daemon: one
per ticket and hour to the same text (a robot that ignores Auto-Submitted and answers
each of our answers alike), and an hourly cap for the whole desk."""

from __future__ import annotations

import smtplib
import sqlite3
from pathlib import Path

from smtp_helpers import Daemon, mail, prepare, write_config

Factory = type[Daemon]


def _desk(tmp_path: Path, daemon_factory: Factory, instance: str = "") -> Daemon:
    config = write_config(tmp_path)
    text = config.read_text().replace("autoresponse: {new: false, followup: false}",
                                      "autoresponse: {new: true, followup: true}", 1)
    config.write_text(text.replace("  system_id: 10\n", "  system_id: 10\n" + instance, 1))
    prepare(config)
    d = daemon_factory(config)
    d.start()
    return d


def _autoreplies(d: Daemon) -> int:
    with sqlite3.connect(d.db_path, timeout=30) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'autoreply'")
                   .fetchone()[0])


def test_one_auto_response_per_ticket_and_hour_to_the_same_text(
        tmp_path: Path, daemon_factory: Factory) -> None:
    d = _desk(tmp_path, daemon_factory)
    with smtplib.SMTP("127.0.0.1", d.port(), timeout=20) as s:
        s.sendmail("robot@customer.example", ["support@example.com"],
                   mail("robot-0@customer.example", sender="robot@customer.example"))
        with sqlite3.connect(d.db_path) as conn:
            (number,), = conn.execute("SELECT number FROM tickets")
        for n in range(1, 5):  # the robot answers each of our answers, the same words
            s.sendmail("robot@customer.example", ["support@example.com"],
                       mail(f"robot-{n}@customer.example", sender="robot@customer.example",
                            subject=f"Re: [Ticket#{number}] Help please",
                            body="Thank you, your message has been received.\r\n"))
        assert _autoreplies(d) == 2  # the new ticket's, and one for the follow-ups
        s.sendmail("robot@customer.example", ["support@example.com"],
                   mail("human@customer.example", sender="robot@customer.example",
                        subject=f"Re: [Ticket#{number}] Help please",
                        body="Sorry, it is still on fire. Please call me.\r\n"))
    assert _autoreplies(d) == 3  # something new was written: it gets its answer


def test_an_hourly_cap_for_the_whole_desk(tmp_path: Path, daemon_factory: Factory) -> None:
    d = _desk(tmp_path, daemon_factory, "  autoresponse_hourly_cap: 3\n")
    with smtplib.SMTP("127.0.0.1", d.port(), timeout=20) as s:
        for n in range(6):  # six senders (or one forged six ways): each under its own cap
            who = f"victim{n}@customer.example"
            s.sendmail(who, ["support@example.com"], mail(f"flood-{n}@x.example", sender=who))
    assert _autoreplies(d) == 3
    assert "hourly cap of 3 auto-responses" in d.log()
