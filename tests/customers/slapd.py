"""A private OpenLDAP for the directory tests: Debian's `slapd` and `ldap-utils` (installed
with apt-get when missing, with debconf told to configure no system directory), run with
its own slapd.conf, database folder and port on loopback. The system's slapd, if any, is
never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.debian import apt_install
from tests.postfix.postfix_helpers import free_port, which

__all__ = ["BASE", "ROOT_DN", "PrivateSlapd", "ensure_slapd", "running_slapd"]

PACKAGES = ("slapd", "ldap-utils")
BASE = "dc=example,dc=com"
ROOT_DN = f"cn=admin,{BASE}"


def ensure_slapd() -> str | None:
    """None when slapd can run here (installed now if missing), else why not."""
    if which("slapd") and which("ldapadd") and Path("/etc/ldap/schema/core.schema").exists():
        return None
    # Only the package: no system directory configured or started by its postinst.
    why = apt_install(PACKAGES, preseed=b"slapd slapd/no_configuration boolean true\n")
    if why is None and not which("slapd"):
        why = "apt-get installed slapd but it is not on the path"
    return why


CONFIG = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {root}/slapd.pid
argsfile {root}/slapd.args
database mdb
maxsize 10485760
suffix "{base}"
rootdn "{root_dn}"
rootpw {password}
directory {root}/data
"""


class PrivateSlapd:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="maildesk-slapd-"))
        self.port = free_port()
        self.password = "test-secret"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def start(self) -> None:
        (self.root / "data").mkdir(exist_ok=True)
        conf = self.root / "slapd.conf"
        conf.write_text(CONFIG.format(root=self.root, base=BASE, root_dn=ROOT_DN,
                                      password=self.password))
        # -d 0: stay in the foreground (so the test owns the process), log nothing
        self.process = subprocess.Popen(
            [which("slapd") or "slapd", "-f", str(conf), "-h", f"{self.url}/", "-d", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while not self._listening():
            if self.process.poll() is not None or time.monotonic() > deadline:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                self.stop()
                raise RuntimeError(f"slapd did not start: {err[-2000:]}")
            time.sleep(0.05)

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError:
            return False
        return True

    def add(self, ldif: str) -> None:
        result = subprocess.run(
            [which("ldapadd") or "ldapadd", "-x", "-H", self.url, "-D", ROOT_DN,
             "-w", self.password],
            input=ldif.encode(), capture_output=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"ldapadd: {result.stderr.decode()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process is not None and self.process.stderr:
            self.process.stderr.close()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def running_slapd(ldif: str) -> Iterator[PrivateSlapd]:
    """A started private slapd holding `ldif`, stopped after; a test skips where slapd cannot
    run, except under CI, where that fails the test."""
    import pytest

    reason = ensure_slapd()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the slapd test cannot run in CI: {reason}")
        pytest.skip(reason)
    server = PrivateSlapd()
    try:
        server.start()
        server.add(ldif)
        yield server
    finally:
        server.stop()
