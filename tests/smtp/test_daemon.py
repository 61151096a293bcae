"""The daemon as a process: killed mid-stream, reloaded, stopped, started over a spool.

Every test runs the real `maildesk --config PATH serve` and talks SMTP to it over loopback.
"""

from __future__ import annotations

import signal
import smtplib
import ssl
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from smtp_helpers import Client, Daemon, mail, prepare, write_config

from maildesk.intake.message import Envelope
from maildesk.intake.spool import Spool
from maildesk.smtp import status

Factory = type[Daemon]


def wait_until(predicate, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return bool(predicate())


def test_sigkill_midway_loses_no_acknowledged_mail_and_stores_none_twice(
        tmp_path: Path, daemon_factory: Factory) -> None:
    """SPEC 2: 250 only once durable. Several clients send; the daemon is killed -9 while
    mails are in flight; after a restart the clients resend whatever got no 250 (identical
    bytes, as an MTA does). Then every mail is stored exactly once."""
    config = write_config(tmp_path)
    prepare(config)
    d = daemon_factory(config)
    d.start()
    port = d.port()
    clients, per_client, kill_after = 4, 60, 90
    ids = [f"{c}-{n}-{uuid.uuid4().hex[:8]}@dur.example"
           for c in range(clients) for n in range(per_client)]
    mails = {m: mail(m, subject=f"durability {m}", size=2000) for m in ids}
    acked: set[str] = set()
    lock = threading.Lock()
    enough = threading.Event()

    def send(c: int) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
                for m in ids[c * per_client:(c + 1) * per_client]:
                    s.sendmail("carol@customer.example", ["support@example.com"], mails[m])
                    with lock:
                        acked.add(m)
                        if len(acked) >= kill_after:
                            enough.set()
        except (smtplib.SMTPException, OSError):
            pass  # the daemon died under us: what has no 250 is resent below

    threads = [threading.Thread(target=send, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    assert enough.wait(60), "the daemon never acknowledged enough mail"
    d.proc.kill()  # type: ignore[union-attr]
    d.proc.wait(10)  # type: ignore[union-attr]
    for t in threads:
        t.join(30)
    acked_before = set(acked)
    assert kill_after <= len(acked_before) < len(ids), "the kill did not land midway"

    d.start()  # drains whatever the first run spooled, then listens
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
        for m in ids:
            if m not in acked_before:
                assert s.sendmail("carol@customer.example", ["support@example.com"],
                                  mails[m]) == {}
    assert wait_until(lambda: not d.spooled("inbound")), "the inbound spool was not drained"
    stored = d.articles()
    assert {m: stored.get(m, 0) for m in ids} == dict.fromkeys(ids, 1)
    assert sum(stored.values()) == len(ids) and not d.spooled("failed")


def test_spool_left_by_a_crash_is_drained_at_start_up(tmp_path: Path,
                                                      daemon_factory: Factory) -> None:
    config = write_config(tmp_path)
    prepare(config)
    spool = Spool(tmp_path / "var" / "spool" / "inbound")
    ids = [f"spooled-{n}@crash.example" for n in range(3)]
    for m in ids:
        spool.put(mail(m), Envelope("carol@customer.example", ("support@example.com",)))
    d = daemon_factory(config)
    d.start()
    # drained before READY=1, so no new mail can overtake it
    assert {m: d.articles().get(m) for m in ids} == dict.fromkeys(ids, 1)
    assert d.spooled("inbound") == []


def rcpt_code(port: int, address: str) -> int:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo()
        s.mail("carol@customer.example")
        return s.rcpt(address)[0]


SALES = """\
  - name: Sales
    address: sales@example.com
    group: support
"""


def test_sighup_refuses_a_broken_config_and_applies_a_valid_one(
        tmp_path: Path, daemon_factory: Factory) -> None:
    config = write_config(tmp_path)
    prepare(config)
    good = config.read_text()
    d = daemon_factory(config)
    d.start()
    port = d.port()
    assert rcpt_code(port, "sales@example.com") == 550

    broken = good.replace("    group: billing\n", "    group: no-such-group\n")
    config.write_text(broken)
    line = broken.splitlines().index("    group: no-such-group") + 1
    d.signal(signal.SIGHUP)
    d.wait_note("RELOADING=1")
    d.wait_note("READY=1")
    assert wait_until(lambda: "reload refused" in d.log(), 5)
    assert f"{config}:{line}:" in d.log()  # the admin is told where
    assert rcpt_code(port, "support@example.com") == 250  # the old config is in force
    assert rcpt_code(port, "sales@example.com") == 550

    config.write_text(write_config(tmp_path, smtp_port=port, extra_queues=SALES,
                                   name="next.yaml").read_text())
    d.signal(signal.SIGHUP)
    d.wait_note("RELOADING=1")
    d.wait_note("READY=1")
    assert wait_until(lambda: "config reloaded" in d.log(), 5)
    assert rcpt_code(port, "sales@example.com") == 250  # new sessions use the new config
    assert d.proc is not None and d.proc.poll() is None


def test_sigterm_finishes_transactions_in_flight_then_exits_0(
        tmp_path: Path, daemon_factory: Factory) -> None:
    config = write_config(tmp_path)
    prepare(config)
    d = daemon_factory(config)
    d.start(env={"MAILDESK_GRACE_SECONDS": "3"})
    port = d.port()
    busy, idle, stuck = Client(port), Client(port), Client(port)
    for c in (busy, idle, stuck):
        c.replies()
        c.send("EHLO client.example\r\n")
        c.lines()
    for c in (busy, stuck):
        c.send("MAIL FROM:<carol@customer.example>\r\nRCPT TO:<support@example.com>\r\nDATA\r\n")
        assert [r[:3] for r in c.replies(3)] == ["250", "250", "354"]
    raw = mail("inflight@term.example", size=3000)
    busy.send(raw[:1500])
    stuck.send(mail("stuck@term.example")[:100])

    d.signal(signal.SIGTERM)
    d.wait_note("STOPPING=1")
    assert idle.replies() == [status.SHUTTING_DOWN] and idle.closed_by_peer()
    with pytest.raises(OSError):  # no new connections
        Client(port, timeout=2).replies()

    busy.send(raw[1500:] + b".\r\n")  # the transaction in flight completes
    reply = busy.replies()[0]
    assert reply.startswith("250 "), reply
    assert busy.replies() == [status.SHUTTING_DOWN]

    started = time.monotonic()
    assert d.wait(20) == 0  # the stuck one is cut at the grace period, and the exit is clean
    assert time.monotonic() - started < 10
    assert stuck.replies() == [status.SHUTTING_DOWN] and stuck.closed_by_peer()
    stored = d.articles()
    assert stored.get("inflight@term.example") == 1 and "stuck@term.example" not in stored


@pytest.mark.skipif(subprocess.run(["which", "openssl"], capture_output=True).returncode != 0,
                    reason="openssl is needed to make a test certificate")
def test_starttls_offered_and_required_before_mail(tmp_path: Path,
                                                   daemon_factory: Factory) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    config = write_config(tmp_path, extra_listen=(f"  tls_cert: {cert}\n  tls_key: {key}\n"
                                                  "  require_starttls: true\n"))
    prepare(config)
    d = daemon_factory(config)
    d.start()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", d.port(), timeout=10) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        assert s.mail("carol@customer.example")[0] == 530
        s.starttls(context=context)
        s.ehlo()
        assert s.sendmail("carol@customer.example", ["support@example.com"],
                          mail("tls@tls.example")) == {}
    assert d.articles().get("tls@tls.example") == 1
