"""A drain of the inbound spool that keeps failing (a bug, here a spool file whose head is
not JSON) backs off and says what is wrong to the log and to systemd's STATUS=, instead of
an error every second; new mail is still accepted meanwhile (issue 11)."""

from __future__ import annotations

import smtplib
import time
from pathlib import Path

from smtp_helpers import Daemon, mail, prepare, write_config


def test_a_stuck_drain_backs_off_and_tells_systemd(tmp_path: Path,
                                                   daemon_factory: type[Daemon]) -> None:
    config = write_config(tmp_path)
    prepare(config)
    inbound = tmp_path / "var" / "spool" / "inbound"
    inbound.mkdir(parents=True)
    (inbound / "00000000000000000001-deadbeef.mail").write_bytes(b"not json\nFrom: x\n\nx\n")
    d = daemon_factory(config)
    d.start()
    started = time.monotonic()
    stuck = [n for n in d.notes if n.startswith("STATUS=inbound spool stuck")]
    deadline = time.monotonic() + 15
    while not stuck and time.monotonic() < deadline:
        try:
            d.wait_note("WATCHDOG=never", timeout=0.5)
        except AssertionError:
            pass
        stuck = [n for n in d.notes if n.startswith("STATUS=inbound spool stuck")]
    assert stuck and "1 mails waiting" in stuck[0], d.notes
    with smtplib.SMTP("127.0.0.1", d.port(), timeout=20) as s:
        s.sendmail("carol@customer.example", ["support@example.com"],
                   mail("meanwhile@backoff.example"))
    time.sleep(max(0.0, 8 - (time.monotonic() - started)))
    d.stop()
    log = d.log()
    tries = log.count("draining the inbound spool failed")
    assert 1 <= tries <= 4, log  # 1 s, 2 s, 4 s apart; not one a second
    assert "next try in" in log and "meanwhile@backoff.example" in log
    assert d.articles() == {"meanwhile@backoff.example": 1}
