"""systemd/maildesk-timers.{service,timer}: `timers run` once a minute, verified by
`systemd-analyze verify` (with ExecStart pointed at this environment's maildesk)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
SHIPPED_BINARY = "/usr/local/bin/maildesk"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((SYSTEMD / name).read_text())
    return parser


def test_the_timer_runs_the_service_every_minute() -> None:
    service = _unit("maildesk-timers.service")["Service"]
    assert service["Type"] == "oneshot"
    assert service["ExecStart"] == \
        f"{SHIPPED_BINARY} --config /etc/maildesk/maildesk.yaml timers run"
    assert service["User"] == "maildesk" and service["ProtectSystem"] == "strict"
    timer = _unit("maildesk-timers.timer")["Timer"]
    assert timer["OnCalendar"] == "*-*-* *:*:00" and timer["Persistent"] == "true"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed here")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    binary = shutil.which("maildesk") or str(Path(sys.executable).parent / "maildesk")
    for name in ("maildesk-timers.service", "maildesk-timers.timer"):
        (tmp_path / name).write_text((SYSTEMD / name).read_text().replace(SHIPPED_BINARY,
                                                                           binary))
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "maildesk-timers.timer"),
                             str(tmp_path / "maildesk-timers.service")],
                            capture_output=True, text=True, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if "maildesk-timers" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr
