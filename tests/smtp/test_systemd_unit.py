"""systemd/maildesk.service: the settings the daemon relies on, and `systemd-analyze verify`.

verify also checks that ExecStart's binary exists. On a machine without maildesk installed
system-wide it would fail for that reason alone, so a copy of the unit whose ExecStart names
the `maildesk` of this environment is verified; everything else is verified as shipped.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "maildesk.service"
SHIPPED_BINARY = "/usr/local/bin/maildesk"


def service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def test_unit_has_what_the_daemon_relies_on() -> None:
    s = service()
    assert s["Type"] == "notify"  # the daemon sends READY, RELOADING, STOPPING
    assert s["ExecStart"] == f"{SHIPPED_BINARY} --config /etc/maildesk/maildesk.yaml serve"
    assert s["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert s["User"] == "maildesk" and s["Restart"] == "on-failure"
    assert s["AmbientCapabilities"] == s["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict",
                       "PrivateTmp": "yes", "ProtectHome": "yes",
                       "ReadWritePaths": "/var/lib/maildesk"}.items():
        assert s[key] == value, key
    # the stop timeout leaves room for the daemon's own 30 s grace period
    assert int(s["TimeoutStopSec"]) > 30


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed here")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    binary = shutil.which("maildesk") or str(Path(sys.executable).parent / "maildesk")
    assert Path(binary).exists(), "the maildesk console script of this environment"
    copy = tmp_path / "maildesk.service"
    copy.write_text(UNIT.read_text().replace(SHIPPED_BINARY, binary))
    result = subprocess.run(["systemd-analyze", "verify", str(copy)],
                            capture_output=True, text=True, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if "maildesk.service" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


# -- the documented install under the unit's file-system sandbox (issue 11) ---------------

README = UNIT.parents[1] / "README.md"
STATE = "/var/lib/maildesk"


def _readme_systemd_keys() -> dict:
    """The YAML block of the README's "Under systemd" section."""
    import yaml

    text = README.read_text()
    section = text[text.index("### Under systemd"):]
    block = section[section.index("```yaml\n") + 8:]
    return yaml.safe_load(block[:block.index("```")])


def _writable_by_the_unit() -> list[str]:
    s = service()
    paths = s.get("ReadWritePaths", "").split()
    paths += [f"/var/lib/{d}" for d in s.get("StateDirectory", "").split()]
    assert s["ProtectSystem"] == "strict"  # everything else is read-only
    return paths


def test_the_documented_paths_are_writable_under_the_unit() -> None:
    keys = _readme_systemd_keys()
    database = keys["database"]
    assert database.startswith("sqlite:////"), database
    wanted = [keys["instance"]["secret_file"], database[len("sqlite:///"):],
              keys["storage"]["path"]]
    writable = _writable_by_the_unit()
    for path in wanted:
        assert path.startswith("/"), f"{path}: relative paths land in /etc/maildesk"
        assert any(path == w or path.startswith(w.rstrip("/") + "/") for w in writable), path
    s = service()
    assert s["WorkingDirectory"] in writable


SANDBOX = r"""
set -e
mount --make-rprivate /
# ProtectSystem=strict: every mount read-only, the API file systems aside
awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r m; do
  m="$(printf '%b' "$m")"
  case "$m" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue;; esac
  mount -o remount,bind,ro "$m" 2>/dev/null || true
done
# ReadWritePaths= / StateDirectory=: the state folder alone stays writable
mount --bind "$MD_STATE" "$MD_STATE"
mount -o remount,bind,rw "$MD_STATE"
if touch "$MD_ETC/.probe" 2>/dev/null; then echo "sandbox: /etc is writable" >&2; exit 97; fi
cd "$MD_STATE"
exec "$@"
"""


def _sandbox_unavailable() -> str | None:
    import os

    if shutil.which("unshare") is None or os.geteuid() != 0:
        return "needs root and unshare(1) to build the unit's read-only mount namespace"
    probe = subprocess.run(["unshare", "-m", "sh", "-c",
                            "mount --make-rprivate / && mount -o remount,bind,ro /"],
                           capture_output=True, timeout=30)
    if probe.returncode != 0:
        return ("this machine does not allow a private read-only mount namespace "
                f"(unshare -m: {probe.stderr.decode(errors='replace').strip()})")
    return None


def _site(tmp_path: Path, keys: dict | None) -> tuple[Path, Path, Path, int]:
    """etc/maildesk/maildesk.yaml as `init` writes it, with the README's keys moved under
    tmp_path (the stand-in for /); `init` run by the admin outside the unit."""
    import yaml

    from tests.smtp.smtp_helpers import free_port, prepare

    etc = tmp_path / "etc" / "maildesk"
    state = tmp_path / STATE.lstrip("/")
    etc.mkdir(parents=True)
    state.mkdir(parents=True)
    example = yaml.safe_load((UNIT.parents[1] / "maildesk" / "example.yaml").read_text())
    port = free_port()
    example["listen"] = {"smtp": f"127.0.0.1:{port}", "lmtp": None}
    example["outbound"]["relay"] = "127.0.0.1:2"
    if keys is not None:
        moved = yaml.safe_load(yaml.safe_dump(keys).replace(STATE, str(state)))
        example["instance"].update(moved["instance"])
        example["database"] = moved["database"]
        example["storage"].update(moved["storage"])
    config = etc / "maildesk.yaml"
    config.write_text(yaml.safe_dump(example, sort_keys=False))
    prepare(config)
    return config, etc, state, port


def _serve_and_send(config: Path, etc: Path, state: Path, port: int) -> tuple[str, str]:
    """serve in the sandbox; one mail over SMTP; the reply and the daemon's log."""
    import os
    import signal
    import smtplib
    import socket
    import time

    env = {**os.environ, "MD_STATE": str(state), "MD_ETC": str(etc)}
    env.pop("NOTIFY_SOCKET", None)
    proc = subprocess.Popen(
        ["unshare", "-m", "sh", "-c", SANDBOX, "sandbox",
         sys.executable, "-m", "maildesk", "--config", str(config), "serve"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        assert proc.poll() is None, proc.communicate(timeout=10)[0].decode()
        raw = (b"From: Carol <carol@example.org>\r\nTo: support@example.com\r\n"
               b"Subject: under the unit\r\nMessage-ID: <unit@example.org>\r\n\r\nHello.\r\n")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.sendmail("carol@example.org", ["support@example.com"], raw)
            reply = "250"
        except smtplib.SMTPResponseException as exc:
            reply = f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace')}"
        except smtplib.SMTPDataError as exc:  # pragma: no cover - a subclass of the above
            reply = str(exc.smtp_code)
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0].decode(errors="replace")
    return reply, out


def test_serve_stores_mail_under_the_units_read_only_file_system(tmp_path: Path) -> None:
    reason = _sandbox_unavailable()
    if reason is not None:
        pytest.skip(reason)
    config, etc, state, port = _site(tmp_path / "documented", _readme_systemd_keys())
    reply, log = _serve_and_send(config, etc, state, port)
    assert reply == "250" and "result=stored" in log, log
    tickets = subprocess.run([sys.executable, "-m", "maildesk", "--config", str(config),
                              "tickets", "--json"], capture_output=True, timeout=60)
    assert b"under the unit" in tickets.stdout, tickets.stderr
    # The control: the paths as they were documented (relative to /etc/maildesk) cannot
    # store a mail in the same sandbox; the sandbox is what the first half passed through.
    config, etc, state, port = _site(tmp_path / "old", None)
    reply, log = _serve_and_send(config, etc, state, port)
    assert reply.startswith("451") and "result=stored" not in log, (reply, log)
