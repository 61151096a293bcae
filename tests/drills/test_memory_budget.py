"""Big mails at once through a real `maildesk serve` with a small memory budget (issue 13):
every mail is stored, the ones whose turn would exceed the budget wait for it (logged),
none is refused while the others finish in time."""

from __future__ import annotations

import smtplib
import threading
from pathlib import Path

from smtp_helpers import Daemon, mail, prepare, write_config


def test_concurrent_big_mails_are_stored_within_the_budget(tmp_path: Path) -> None:
    """Six 3 MiB mails at once with a 4 MiB budget: all stored (250), at most one in
    ingest at a time, the others waiting their turn."""
    config = write_config(tmp_path, extra_listen="  memory_budget: 4MiB\n")
    prepare(config)
    d = Daemon(config)
    d.start()
    try:
        _six_at_once(d)
    finally:
        d.close()


def _six_at_once(d: Daemon) -> None:
    replies: list[object] = []

    def send(n: int) -> None:
        with smtplib.SMTP("127.0.0.1", d.port(), timeout=120) as s:
            replies.append(s.sendmail("carol@customer.example", ["support@example.com"],
                                      mail(f"big-{n}@customer.example", size=3 << 20)))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    assert replies == [{}] * 6  # every mail accepted
    assert len(d.articles()) == 6
    assert "memory budget: a mail of" in d.log()
