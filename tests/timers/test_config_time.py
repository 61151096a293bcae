"""The time keys of maildesk.yaml (SPEC 13): calendars, a queue's sla, helpdesk levels, the
instance's timezone and lock_timeout; every bad value is a `file:line: message`, a cycle of
levels is refused, and check-config exits 78 on them."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, time
from pathlib import Path

import pytest

from maildesk.config import ConfigError, load_config

GOOD = """\
instance:
  timezone: America/New_York
  lock_timeout: 30m
calendars:
  default: {timezone: Europe/Madrid, hours: {mon-fri: "09:00-17:00"}, holidays: [2026-12-25]}
  nights:
    hours: {sat: ["22:00-02:00"], sun: "10:00-12:00, 13:00-14:00"}
queues:
  - name: First Level
    address: first@example.com
    sla: {first_response: 4h, update: 8h, solution: 2d, calendar: default, warn_before: 30m}
    escalate_to: Second Level
    escalate_after: 2h
  - name: Second Level
    address: second@example.com
    sla: {solution: 90s}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "maildesk.yaml"
    path.write_text(text)
    return path


def test_every_time_key_is_read(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD))
    assert (config.instance.timezone, config.instance.lock_timeout) == ("America/New_York", 1800)
    first, second = config.queues
    assert first.sla is not None and second.sla is not None
    assert (first.sla.first_response, first.sla.update, first.sla.solution) == (
        4 * 3600, 8 * 3600, 2 * 86400)
    assert (first.sla.calendar, first.sla.warn_before) == ("default", 1800)
    assert (first.escalate_to, first.escalate_after) == ("Second Level", 7200)
    assert (second.sla.solution, second.sla.calendar, second.escalate_to) == (90, None, None)
    default, nights = config.calendars["default"], config.calendars["nights"]
    assert str(default.timezone) == "Europe/Madrid" and default.holidays == {date(2026, 12, 25)}
    assert str(nights.timezone) == "America/New_York"  # the instance's
    assert nights.hours[5] == ((time(22), None),) and nights.hours[6][0] == (time(0), time(2))


@pytest.mark.parametrize("old, new, message", [
    ("lock_timeout: 30m", "lock_timeout: soon", "3: instance.lock_timeout: not a duration"),
    ("timezone: America/New_York", "timezone: Mars/Base", "2: instance.timezone: unknown time"),
    ("first_response: 4h", "first_response: 4 hours", "11: queue 'First Level': "
     "sla.first_response: not a duration"),
    ("first_response: 4h", "first_response: 0s", "must be longer than 0"),
    ("calendar: default", "calendar: weekdays", "11: queue 'First Level': "
     "sla.calendar: unknown calendar 'weekdays'"),
    ("warn_before: 30m", "warn_later: 30m", "11: queue 'First Level': "
     "sla: unknown key 'warn_later'"),
    ("escalate_after: 2h", "escalate_after: two hours", "13: queue 'First Level': escalate_after"),
    ("escalate_to: Second Level", "escalate_to: Third Level", "12: queue 'First Level': "
     "escalate_to: unknown queue 'Third Level'"),
    ("    escalate_after: 2h\n", "", "12: queue 'First Level': escalate_to and escalate_after"),
    ('mon-fri: "09:00-17:00"', 'weekdays: "09:00-17:00"', "5: calendars.default.hours: "),
    ("holidays: [2026-12-25]", "holidays: [christmas]", "5: calendars.default.holidays: not a"),
    ("    sla: {solution: 90s}\n", "    sla: {calendar: default}\n", "names no clock"),
])
def test_bad_time_keys_are_file_line_errors(tmp_path: Path, old: str, new: str,
                                            message: str) -> None:
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert any(m.startswith(f"{path}:") and message in m for m in info.value.messages), \
        info.value.messages


def test_a_cycle_of_levels_is_refused_by_check_config(tmp_path: Path) -> None:
    text = GOOD.replace("    sla: {solution: 90s}\n", "    escalate_to: First Level\n"
                        "    escalate_after: 1h\n")
    path = _write(tmp_path, text)
    result = subprocess.run([sys.executable, "-m", "maildesk", "--config", str(path),
                             "check-config"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 78
    assert f"{path}:12: queue 'First Level': escalate_to makes a cycle: First Level -> " \
           "Second Level -> First Level" in result.stderr, result.stderr
    self_loop = GOOD.replace("escalate_to: Second Level", "escalate_to: First Level")
    with pytest.raises(ConfigError, match="cycle: First Level -> First Level"):
        load_config(_write(tmp_path, self_loop))
