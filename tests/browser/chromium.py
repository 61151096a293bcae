"""Debian's Chromium for the browser tests, installed with apt-get when missing (as the
mailbox tests install Dovecot). Playwright drives it through `executable_path`: its own
browser downloads are never used (their host is not reachable from here or from CI)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.debian import apt_install

__all__ = ["CANDIDATES", "ensure_chromium"]

PACKAGES = ("chromium", "fonts-dejavu-core")
# The binary itself first (starts faster), then Debian's wrapper script.
CANDIDATES = (Path("/usr/lib/chromium/chromium"), Path("/usr/bin/chromium"))


def _found() -> Path | None:
    return next((p for p in CANDIDATES if p.is_file() and os.access(p, os.X_OK)), None)


def ensure_chromium() -> tuple[Path | None, str]:
    """(the browser, "") when it can run here, installed now if missing; else (None, why)."""
    found = _found()
    if found is not None:
        return found, ""
    why = apt_install(PACKAGES, timeout=900)
    found = _found()
    if why is None and found is None:
        why = "apt-get installed chromium but its binary is not where Debian puts it"
    return (found, "") if found is not None else (None, why or "")
