"""Debian's Chromium for the browser tests, installed with apt-get when missing (as the
mailbox tests install Dovecot). Playwright drives it through `executable_path`: its own
browser downloads are never used (their host is not reachable from here or from CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

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
    apt = shutil.which("apt-get")
    if apt is None:
        return None, "Chromium is not installed and there is no apt-get to install it"
    if os.geteuid() != 0:
        return None, "Chromium is not installed and installing it needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "-o", "DPkg::Lock::Timeout=120", "install", "-y",
               "--no-install-recommends", *PACKAGES]
    result = subprocess.run(install, capture_output=True, timeout=900, env=env)
    if result.returncode != 0:  # a stale or missing package list: refresh it once
        subprocess.run([apt, "update"], capture_output=True, timeout=600, env=env)
        result = subprocess.run(install, capture_output=True, timeout=900, env=env)
    found = _found()
    if result.returncode != 0 or found is None:
        tail = (result.stdout + result.stderr).decode(errors="replace").splitlines()[-5:]
        return None, f"apt-get could not install {' '.join(PACKAGES)}: {' | '.join(tail)}"
    return found, ""
