"""Files the config names that must be there before maildesk handles mail: the instance
secret (without it every reply token fails to verify, silently). `check-config` reports
them as `file:line: message` (exit 78); `serve` and `deliver` refuse to start on them."""

from __future__ import annotations

import re

from maildesk.config.model import Config

__all__ = ["file_problems"]


def file_problems(config: Config) -> list[str]:
    path = config.instance.secret_file
    problem = None
    try:
        if not path.read_bytes().strip():
            problem = f"instance.secret_file: {path} is empty"
    except FileNotFoundError:
        problem = f"instance.secret_file: {path} does not exist (`maildesk init` creates it)"
    except OSError as exc:
        problem = f"instance.secret_file: cannot read {path}: {exc.strerror or exc}"
    if problem is None:
        return []
    return [f"{config.path}:{_line(config, 'secret_file', 'instance')}: {problem}"]


def _line(config: Config, key: str, section: str) -> int:
    """The line of `key:` in the file, else of its section, else 1 (a default was used)."""
    try:
        lines = config.path.read_text(encoding="utf-8-sig").splitlines()
    except OSError:
        return 1
    for wanted in (key, section):
        for number, line in enumerate(lines, 1):
            if re.match(rf"\s*{re.escape(wanted)}\s*:", line):
                return number
    return 1
