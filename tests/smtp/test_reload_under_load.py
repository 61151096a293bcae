"""SIGHUP while mail flows: every mail is processed under exactly one config.

Two configs differ in two settings read at different moments of one mail's trip: a routing
rule's tag (read when the mail is routed) and the queue's display name (read when the
auto-response is written, at the end of the transaction). The real daemon takes mail over
SMTP from several clients while the test swaps the config file and sends SIGHUP again and
again; afterwards each ticket's tag must name the same config as its auto-response's From.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import smtplib
import sqlite3
import threading
import time
from pathlib import Path

from smtp_helpers import Daemon, mail, prepare, write_config

MAILS_PER_CLIENT = 8
CLIENTS = 3

RULES = """\
rules:
  - name: stamp
    match: {{subject: {{regex: "."}}}}
    set: {{tags: [cfg{n}]}}
"""


def variant(base: str, n: int) -> str:
    """The base config with queue Support named `Support cfgN` and a rule tagging cfgN."""
    text = base.replace(
        "  - name: Support\n    address: support@example.com\n    group: support\n"
        "    autoresponse: {new: false, followup: false}\n",
        "  - name: Support\n    address: support@example.com\n    group: support\n"
        f"    display_name: Support cfg{n}\n    autoresponse: {{new: true, followup: false}}\n")
    assert text != base, "the queue block of smtp_helpers.CONFIG changed"
    return text + RULES.format(n=n)


def install(path: Path, text: str) -> None:
    """Atomically, as an admin's editor or config management would."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_every_mail_sees_one_config_while_sighup_swaps_it(
        tmp_path: Path, daemon_factory: type[Daemon]) -> None:
    config = write_config(tmp_path)
    base = config.read_text()
    install(config, variant(base, 1))
    prepare(config)
    d = daemon_factory(config)
    d.start()
    port = d.port()
    errors: list[str] = []

    def client(c: int) -> None:
        try:
            for i in range(MAILS_PER_CLIENT):
                sender = f"c{c}x{i}@cust{c}x{i}.example"  # own sender: no auto-response cap
                raw = mail(f"reload-{c}-{i}@customer.example", subject=f"Help {c}/{i}",
                           sender=sender)
                with smtplib.SMTP("127.0.0.1", port, timeout=120) as s:
                    s.sendmail(sender, ["support@example.com"], raw)
        except Exception as exc:  # reported below, with the daemon's log
            errors.append(f"client {c}: {exc!r}")

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    reloads = 0
    while any(t.is_alive() for t in threads):
        reloads += 1
        install(config, variant(base, 1 + reloads % 2))
        d.signal(signal.SIGHUP)
        d.wait_note("READY=1", 60)  # one reload at a time: signals must not pile up
        time.sleep(0.02)
    for t in threads:
        t.join(120)
    assert not errors, errors[:3] + [d.log()[-3000:]]
    applied = d.log().count("config reloaded from")
    assert applied >= 2, f"only {applied} reloads applied of {reloads} sent:\n{d.log()[-3000:]}"

    total = CLIENTS * MAILS_PER_CLIENT
    deadline = time.monotonic() + 120
    while True:
        with sqlite3.connect(d.db_path, timeout=30) as conn:
            rows = conn.execute(
                "SELECT t.number, t.tags_json, o.raw, o.spec_json FROM tickets t "
                "JOIN outbox o ON o.ticket_id = t.id AND o.kind = 'autoreply'").fetchall()
            tickets = conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0]
        if len(rows) >= total or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert tickets == total and len(rows) == total, (tickets, len(rows))
    assert all(n == 1 for n in d.articles().values())  # each mail stored once

    seen = {1: 0, 2: 0}
    for number, tags_json, raw, spec in rows:
        tags = json.loads(tags_json)
        if raw:  # sent (rendered) already
            message = email.message_from_bytes(bytes(raw), policy=email.policy.default)
            from_name = message["From"].addresses[0].display_name
        else:  # what to send, as the ingest decided it (maildesk/outbound/deferred.py)
            from_name = json.loads(spec)["from_name"]
        assert len(tags) == 1 and from_name == f"Support {tags[0]}", (number, tags, from_name)
        seen[int(tags[0][3:])] += 1
    # Both configs took mail: the swaps really happened while mail was processed.
    assert seen[1] and seen[2], seen
