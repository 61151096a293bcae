"""SPEC 19: `maildesk deliver` hands its mail to a daemon on `listen.socket`, and works in
its own process when none answers there; the exit codes are the same either way."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from smtp_helpers import Daemon, mail, prepare, write_config

Factory = type[Daemon]


def setup(tmp_path: Path) -> Path:
    config = write_config(tmp_path, extra_listen="  socket: ./var/lmtp.sock\n")
    prepare(config)
    return config


def deliver(config: Path, raw: bytes, *recipients: str,
            sender: str = "carol@customer.example") -> subprocess.CompletedProcess[bytes]:
    args = ["--config", str(config), "deliver", "--sender", sender]
    for rcpt in recipients or ("support@example.com",):
        args += ["--recipient", rcpt]
    return subprocess.run([sys.executable, "-m", "maildesk", *args], input=raw,
                          capture_output=True, timeout=60, cwd=config.parent)


def tickets(config: Path) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "maildesk", "--config", str(config),
                          "tickets", "--json"], capture_output=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_deliver_goes_through_the_daemon_with_the_same_exit_codes(
        tmp_path: Path, daemon_factory: Factory) -> None:
    config = setup(tmp_path)
    d = daemon_factory(config)
    d.start()
    assert (tmp_path / "var" / "lmtp.sock").is_socket()

    first_id = f"{uuid.uuid4().hex}@c.example"
    first = mail(first_id, subject="through the socket")
    result = deliver(config, first.replace(b"\r\n", b"\n"))  # as an MTA pipes it: LF
    assert result.returncode == 0, result.stderr
    assert f"msgid=<{first_id}>" in d.log()  # the daemon stored it, not this process
    assert [t["title"] for t in tickets(config)] == ["through the socket"]

    unknown = deliver(config, mail(f"{uuid.uuid4().hex}@c.example"), "nobody@example.com")
    assert unknown.returncode == 67
    assert b"5.1.1" in unknown.stderr

    dotted = mail(f"{uuid.uuid4().hex}@c.example", subject="dots",
                  body=".a line starting with a dot\r\n..and two\r\n.\r\nend\r\n")
    assert deliver(config, dotted).returncode == 0
    number = next(t["number"] for t in tickets(config) if t["title"] == "dots")
    shown = json.loads(subprocess.run(
        [sys.executable, "-m", "maildesk", "--config", str(config), "show", number, "--json"],
        capture_output=True, timeout=60, check=True).stdout)
    assert ".a line starting with a dot\n..and two\n.\nend" in shown["articles"][0]["body"]

    # A line longer than SMTP allows: the in-process path judges it, as before the daemon.
    long_id = f"{uuid.uuid4().hex}@c.example"
    long = mail(long_id, subject="long line", body="x" * 5000 + "\r\n")
    assert deliver(config, long).returncode == 0
    assert long_id not in d.log()
    assert "long line" in [t["title"] for t in tickets(config)]

    d.stop()
    assert not (tmp_path / "var" / "lmtp.sock").exists()  # removed at shutdown


def test_without_a_daemon_deliver_works_in_its_own_process(tmp_path: Path) -> None:
    config = setup(tmp_path)
    stale = tmp_path / "var" / "lmtp.sock"  # left by a daemon killed -9: nobody answers
    import socket

    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(stale))
    result = deliver(config, mail(f"{uuid.uuid4().hex}@c.example", subject="no daemon"))
    assert result.returncode == 0, result.stderr
    assert [t["title"] for t in tickets(config)] == ["no daemon"]
    assert deliver(config, mail("x@c.example"), "nobody@example.com").returncode == 67


def test_deliver_imports_nothing_heavy_when_the_daemon_answers(
        tmp_path: Path, daemon_factory: Factory) -> None:
    config = setup(tmp_path)
    d = daemon_factory(config)
    d.start()
    probe = (
        "import sys\n"
        f"sys.argv = ['maildesk', '--config', {str(config)!r}, 'deliver',\n"
        "            '--recipient', 'support@example.com']\n"
        "from maildesk.deliver import main\n"
        "code = main()\n"
        "print(code, sorted(m for m in sys.modules if m.split('.')[0] in\n"
        "      ('maildesk', 'sqlalchemy', 'yaml', 'email', 'aiosmtpd', 'jinja2')))\n"
    )
    light = f"{uuid.uuid4().hex}@c.example"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=60,
                         input=mail(light, subject="light"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().split(None, 1) == ["0", "['maildesk', 'maildesk.deliver']\n"]
    assert light in d.log()
