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
