"""`maildesk serve` with mailboxes: IDLE delivers within seconds, a wrong password leaves the
other mailboxes working, SIGHUP adds and removes mailboxes, SIGTERM releases the leases."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import Desk, simple_mail
from tests.mailboxes.conftest import Account, mailbox_yaml
from tests.postfix.postfix_helpers import free_port, wait_for
from tests.smtp.smtp_helpers import Daemon

pytestmark = pytest.mark.dovecot


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.close()


def _status(desk: Desk) -> dict[str, dict[str, object]]:
    result = desk.cli("fetch", "--status", "--json")
    assert result.returncode == 0, result.stderr.decode()
    return {s["name"]: s for s in json.loads(result.stdout)}


def _titles(desk: Desk) -> list[str]:
    return sorted(t["title"] for t in desk.tickets())


def test_idle_wrong_password_sighup_and_sigterm(
        account_factory: Callable[..., Account], mailbox_desk: Callable[..., Desk],
        daemons: list[Daemon]) -> None:
    idle, broken, added = account_factory(), account_factory(), account_factory()
    idle.append(simple_mail("waiting before start"))
    desk = mailbox_desk(
        (idle, {"name": "idle", "extra": "idle: true\npoll_every: 1h\n"}),
        (broken, {"name": "broken", "secret": "wrong password"}))
    http = free_port()
    desk.config_path.write_text(desk.config_path.read_text().replace(
        "smtp: 127.0.0.1:0", f"smtp: 127.0.0.1:0\n  http: 127.0.0.1:{http}"))
    daemon = Daemon(desk.config_path)
    daemons.append(daemon)
    daemon.start()
    wait_for(lambda: _titles(desk) == ["waiting before start"], 30, "first sync",
             daemon.log)
    wait_for(lambda: _status(desk)["broken"]["auth_failed"] is True, 30,
             "the refused login in the status", daemon.log)
    assert "mailbox broken: login refused" in daemon.log()
    time.sleep(0.5)  # the idle mailbox is in IDLE now (its poll is an hour away)

    idle.append(simple_mail("pushed by IDLE"))
    wait_for(lambda: "pushed by IDLE" in _titles(desk), 15, "IDLE delivery", daemon.log)
    assert idle.flags() and all("\\Seen" in f for f in idle.flags().values())
    status = _status(desk)
    assert status["idle"]["fetched"] == 2 and status["idle"]["lease_owner"]
    assert status["broken"]["fetched"] == 0

    def metrics() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=10) as r:
            return str(r.read().decode())

    wait_for(lambda: 'maildesk_mailbox_auth_failed{mailbox="broken"} 1.0' in metrics(), 30,
             "the refused login in /metrics", daemon.log)
    text = metrics()
    assert 'maildesk_mailbox_auth_failed{mailbox="idle"} 0.0' in text
    assert 'maildesk_mailbox_last_success_timestamp_seconds{mailbox="idle"}' in text

    # SIGHUP: one mailbox added, the broken one removed; the idle one keeps running.
    secret = desk.root / "added.secret"
    secret.write_text(added.password + "\n")
    text = desk.config_path.read_text()
    start = text.index("  - name: broken")
    end = text.find("  - name:", start + 1)
    text = text[:start] + (text[end:] if end != -1 else "")
    text += mailbox_yaml(added, name="added", secret_file=secret,
                         extra="idle: true\npoll_every: 1h\n")
    desk.config_path.write_text(text)
    added.append(simple_mail("for the added mailbox"))
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: "for the added mailbox" in _titles(desk), 30, "the added mailbox",
             daemon.log)
    assert "mailbox broken: stopping (removed from the config)" in daemon.log()
    assert "mailbox idle: stopping" not in daemon.log()
    idle.append(simple_mail("still idling"))
    wait_for(lambda: "still idling" in _titles(desk), 15, "IDLE after the reload", daemon.log)

    # The server drops the session (a restart, a kick): the daemon reconnects and IDLEs on.
    idle.server.doveadm("kick", idle.user)
    idle.append(simple_mail("after the kick"))
    wait_for(lambda: "after the kick" in _titles(desk), 30, "delivery after a reconnect",
             daemon.log)

    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(30) == 0
    assert time.monotonic() - started < 10, daemon.log()  # IDLE is interrupted, not waited
    status = _status(desk)
    assert status["idle"]["lease_owner"] is None and status["added"]["lease_owner"] is None


def test_fetch_daemon_reloads_on_sighup(account_factory: Callable[..., Account],
                                        mailbox_desk: Callable[..., Desk]) -> None:
    """`maildesk fetch` without --once: a fetch-only daemon; SIGHUP adds a mailbox (and a
    broken config is refused, the old one stays), SIGTERM ends it with exit 0."""
    first, second = account_factory(), account_factory()
    desk = mailbox_desk((first, {"name": "first", "extra": "poll_every: 1h\n"}))
    log = desk.root / "fetch.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "maildesk", "--config", str(desk.config_path), "fetch"],
        stdout=subprocess.DEVNULL, stderr=log.open("wb"), cwd=desk.root)
    try:
        first.append(simple_mail("to the first"))
        wait_for(lambda: "to the first" in _titles(desk), 30, "the first mailbox",
                 log.read_text)
        good = desk.config_path.read_text()
        desk.config_path.write_text(good + "  - name: broken\n")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in log.read_text(), 30, "the refusal", log.read_text)
        secret = desk.root / "second.secret"
        secret.write_text(second.password + "\n")
        desk.config_path.write_text(good + mailbox_yaml(second, name="second",
                                                        secret_file=secret))
        second.append(simple_mail("to the second"))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "to the second" in _titles(desk), 30, "the added mailbox",
                 log.read_text)
        first.append(simple_mail("first again"))
        wait_for(lambda: "first again" in _titles(desk), 30, "IDLE on the first",
                 log.read_text)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
