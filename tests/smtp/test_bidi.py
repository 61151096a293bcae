"""Bidi controls in outgoing mail (issue 13): a customer whose display name or subject
carries U+202E (right-to-left override) or isolates must not get them echoed into the
From/To display names or Subject of our auto-response and agent notification, where they
turn "exe.pdf" into "fdp.exe". Through the real daemon and a relay sink on loopback."""

from __future__ import annotations

import base64
import smtplib
import time
from email.header import decode_header, make_header
from pathlib import Path

from smtp_helpers import Daemon, mail, prepare

from tests.drills.conftest import drill_config
from tests.outbound.conftest import Sink

Factory = type[Daemon]
BIDI = "\u202e\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def test_bidi_controls_never_reach_outgoing_headers(tmp_path: Path,
                                                     daemon_factory: Factory) -> None:
    sink = Sink().start()
    try:
        config = drill_config(tmp_path, relay_port=sink.port)
        prepare(config)
        d = daemon_factory(config)
        d.start()
        raw = mail("bidi@customer.example", subject="Invoice \u202efdp.exe\u202c please",
                   sender="carol@customer.example")
        name = base64.b64encode("Carol \u202eevil\u2066".encode()).decode()
        raw = raw.replace(b"From: Carol", f"From: =?utf-8?b?{name}?=".encode())
        with smtplib.SMTP("127.0.0.1", d.port(), timeout=20) as s:
            assert s.sendmail("carol@customer.example", ["support@example.com"], raw) == {}
        deadline = time.monotonic() + 15
        while len(sink.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(sink.received) == 2  # the auto-response and alice's notification
        for got in sink.received:
            for name in ("From", "To", "Subject"):
                value = str(make_header(decode_header(got.message[name] or "")))
                assert not set(value) & set(BIDI), (name, value)
            assert "fdp.exe" in str(make_header(decode_header(got.message["Subject"])))
    finally:
        sink.stop()
