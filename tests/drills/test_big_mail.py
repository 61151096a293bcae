"""A 25 MiB mail through a real `maildesk serve` (issue 20, big mails in bounded memory):
the daemon survives it, answers 250, stores the mail byte for byte (dot-stuffed lines
undone on the way through the spilled DATA file) with its attachments, and its peak RSS
grows by a bounded multiple of the mail's size. The bound here is generous (a shared
machine); the measured figures are in bench/README.md (bench/memory.py)."""

from __future__ import annotations

import hashlib
import random
import smtplib
import sqlite3
from email.message import EmailMessage
from pathlib import Path

from smtp_helpers import Daemon, mail, prepare

from tests.drills.conftest import drill_config

MiB = 2**20
RSS_BOUND = 8  # extra peak RSS, in multiples of the mail's size (bench/memory.py: 3.5x)


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _big_mail() -> tuple[bytes, list[bytes]]:
    rng = random.Random(20)
    msg = EmailMessage()
    msg["From"] = "Carol <carol@customer.example>"
    msg["To"] = "support@example.com"
    msg["Subject"] = "Scans and the printer log"
    msg["Message-ID"] = "<big-drill@customer.example>"
    # lines with a leading dot: the client stuffs them, the daemon must undo it
    msg.set_content("Hello,\n.\n..two dots\n.end of a line\n\nCarol\n")
    blobs = [rng.randbytes(6 * MiB) for _ in range(3)]
    for n, blob in enumerate(blobs):
        msg.add_attachment(blob, maintype="application", subtype="pdf", filename=f"s{n}.pdf")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")), blobs


def test_a_25_mib_mail_is_stored_in_bounded_memory(tmp_path: Path,
                                                   daemons: list[Daemon]) -> None:
    config = drill_config(tmp_path)
    prepare(config)
    d = Daemon(config)
    daemons.append(d)
    d.start()
    assert d.proc is not None
    raw, blobs = _big_mail()
    assert 20 * MiB < len(raw) < 25 * MiB
    with smtplib.SMTP("127.0.0.1", d.port(), timeout=120) as s:
        s.sendmail("carol@customer.example", ["support@example.com"],
                   mail("warm-up@customer.example"))  # imports and caches in place
        idle = _status(d.proc.pid, "VmRSS")
        Path(f"/proc/{d.proc.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        assert s.mail("carol@customer.example", [f"SIZE={len(raw)}"])[0] == 250
        assert s.rcpt("support@example.com")[0] == 250
        code, text = s.data(raw)
    assert code == 250, text
    extra = _status(d.proc.pid, "VmHWM") - idle
    assert extra < RSS_BOUND * len(raw), f"{extra / len(raw):.1f}x the mail's size"
    assert d.proc.poll() is None  # still serving

    with sqlite3.connect(d.db_path, timeout=30) as conn:
        (article_id, raw_sha256, raw_size), = conn.execute(
            "SELECT id, raw_sha256, raw_size FROM articles WHERE message_id LIKE ?",
            ("%big-drill@%",)).fetchall()
        stored = {row[0] for row in conn.execute(
            "SELECT sha256 FROM attachments WHERE article_id = ?", (article_id,))}
    assert (raw_sha256, raw_size) == (hashlib.sha256(raw).hexdigest(), len(raw))
    assert stored == {hashlib.sha256(b).hexdigest() for b in blobs}
