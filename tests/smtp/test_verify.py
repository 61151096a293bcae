"""`maildesk verify` (issue 13): mails stored through the real daemon, then a raw mail
damaged and the segment holding an attachment (and its mail) deleted behind its back.
verify names each, exits 65 and changes nothing; `show` marks the damaged article."""

from __future__ import annotations

import json
import smtplib
import sqlite3
import subprocess
import sys
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from smtp_helpers import Daemon, mail, prepare, write_config

Factory = type[Daemon]


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "maildesk", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=60, cwd=config.parent)


def _with_attachment() -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"] = "Carol <carol@customer.example>", "support@example.com"
    msg["Subject"], msg["Message-ID"] = "Logs attached", "<att-1@customer.example>"
    msg.set_content("See the log.\n")
    msg.add_attachment(b"line 1\nline 2\n" * 50, maintype="text", subtype="plain",
                       filename="printer.log")
    return msg.as_bytes(policy=SMTP)


def test_verify_reports_damage_and_changes_nothing(tmp_path: Path,
                                                   daemon_factory: Factory) -> None:
    config = write_config(tmp_path)
    prepare(config)
    d = daemon_factory(config)
    d.start()
    with smtplib.SMTP("127.0.0.1", d.port(), timeout=20) as s:
        s.sendmail("carol@customer.example", ["support@example.com"], mail("plain-1@x.example"))
    d.stop()
    d.start()  # a process of its own appends to a segment of its own
    with smtplib.SMTP("127.0.0.1", d.port(), timeout=20) as s:
        s.sendmail("carol@customer.example", ["support@example.com"], _with_attachment())
    d.stop()

    clean = _cli(config, "verify", "--json")
    assert clean.returncode == 0, clean.stderr
    report = json.loads(clean.stdout)
    assert report == {"ok": True, "articles": 2, "attachments": 1, "files": 3,
                      "problems": []}

    with sqlite3.connect(d.db_path) as conn:
        (number, raw_key), = conn.execute(
            "SELECT t.number, a.raw_key FROM articles a JOIN tickets t ON t.id = a.ticket_id "
            "WHERE a.message_id = 'plain-1@x.example'")
        (att_key,), = conn.execute("SELECT sha256 FROM attachments")
    store = tmp_path / "var" / "articles"
    raw_file, start, length = d.blob_place(raw_key)
    stored = raw_file.read_bytes()
    damaged = stored[:start] + stored[start:start + length].replace(b"fire", b"ice!") \
        + stored[start + length:]
    assert damaged != stored
    raw_file.write_bytes(damaged)
    att_file = d.blob_place(att_key)[0]
    assert att_file != raw_file
    att_file.unlink()  # the attachment's segment, and so the mail that brought it, is lost
    before = sorted(p.name for p in store.rglob("*") if p.is_file())

    found = _cli(config, "verify", "--json")
    assert found.returncode == 65
    problems = {(p["what"], p["problem"]) for p in json.loads(found.stdout)["problems"]}
    assert problems == {("raw", "damaged"), ("raw", "missing"), ("attachment", "missing")}
    text = _cli(config, "verify")
    assert text.returncode == 65 and f"ticket {number} article" in text.stdout
    assert "3 problem(s)" in text.stdout
    assert raw_file.read_bytes() == damaged  # nothing repaired, nothing moved
    assert sorted(p.name for p in store.rglob("*") if p.is_file()) == before

    shown = _cli(config, "show", str(number))
    assert shown.returncode == 0 and "DAMAGED (raw mail damaged)" in shown.stdout
    detail = json.loads(_cli(config, "show", str(number), "--json").stdout)
    assert [a["damaged"] for a in detail["articles"]] == ["raw mail damaged"]
