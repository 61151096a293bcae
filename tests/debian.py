"""Debian packages for the tests' private services (Postfix, Dovecot, slapd, Chromium):
installed with apt-get when missing, never configured or started as system services."""

from __future__ import annotations

import os
import shutil
import subprocess

__all__ = ["apt_install"]

SBIN = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


def _which(command: str) -> str | None:
    return shutil.which(command, path=os.pathsep.join([os.environ.get("PATH", ""), *SBIN]))


def apt_install(packages: tuple[str, ...], *, preseed: bytes = b"",
                timeout: float = 600) -> str | None:
    """None once `packages` are installed, else why not.

    `preseed` is debconf answers fed first, so that a package's postinst configures and
    starts no system instance (Postfix on port 25, a slapd directory)."""
    apt = _which("apt-get")
    if apt is None:
        return f"{' '.join(packages)}: not installed and there is no apt-get to install them"
    if os.geteuid() != 0:
        return f"{' '.join(packages)}: not installed and installing needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    debconf = _which("debconf-set-selections")
    if preseed and debconf:
        subprocess.run([debconf], input=preseed, capture_output=True, timeout=60, env=env)
    install = [apt, "-o", "DPkg::Lock::Timeout=120", "install", "-y",
               "--no-install-recommends", *packages]
    result = subprocess.run(install, capture_output=True, timeout=timeout, env=env)
    if result.returncode != 0:  # a stale or missing package list: refresh it once
        subprocess.run([apt, "update"], capture_output=True, timeout=600, env=env)
        result = subprocess.run(install, capture_output=True, timeout=timeout, env=env)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).decode(errors="replace").splitlines()[-5:]
        return f"apt-get could not install {' '.join(packages)}: {' | '.join(tail)}"
    return None
