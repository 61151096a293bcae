"""Regex denial of service (issue 13): a rule `(a+)+$` and a 35-character subject stopped
the whole daemon (Python's backtracking `re` holds the GIL). Rule patterns now run on RE2,
in linear time; what RE2 cannot bound (backreferences, look-around) `check-config` refuses
with file:line and exit 78."""

from __future__ import annotations

import smtplib
import subprocess
import sys
import time
from pathlib import Path

from smtp_helpers import Daemon, mail, prepare, write_config

Factory = type[Daemon]

RULES = """\
rules:
  - name: catastrophic
    match: {subject: {regex: "(a+)+$"}}
    set: {tags: [spin]}
  - name: glob with many stars
    match: {subject: "*a*a*a*a*a*a*a*a*a*a*a*a*b"}
    set: {tags: [stars]}
"""


def test_a_catastrophic_pattern_answers_in_linear_time(tmp_path: Path,
                                                       daemon_factory: Factory) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text() + RULES)
    prepare(config)
    d = daemon_factory(config)
    d.start()
    hostile = "a" * 35 + "!"
    started = time.monotonic()
    with smtplib.SMTP("127.0.0.1", d.port(), timeout=15) as s:
        for n, subject in enumerate([hostile, "a" * 900 + "!", "a" * 40]):
            assert s.sendmail("carol@customer.example", ["support@example.com"],
                              mail(f"redos-{n}@customer.example", subject=subject)) == {}
    # seconds, where the backtracking engine needed longer than the universe's age
    assert time.monotonic() - started < 10
    import sqlite3

    with sqlite3.connect(d.db_path) as conn:
        tags = [t for (t,) in conn.execute("SELECT tags_json FROM tickets ORDER BY id")]
    assert ["spin" in t for t in tags] == [False, False, True]


def test_check_config_refuses_what_cannot_be_bounded(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    text = config.read_text()
    config.write_text(text + """\
rules:
  - name: backreference
    match: {subject: {regex: "(a)\\\\1"}}
    set: {tags: [x]}
  - name: look-ahead
    match: {from: {regex: "(?=ceo)c"}}
    set: {tags: [y]}
""")
    first = len(text.splitlines()) + 3
    result = subprocess.run([sys.executable, "-m", "maildesk", "--config", str(config),
                             "check-config"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 78
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"{config}:{first}: ") and "backreferences" in line
               for line in lines), lines
    assert any(line.startswith(f"{config}:{first + 3}: ") and "look-around" in line
               for line in lines), lines
