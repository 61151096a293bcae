"""A private Dovecot for the mailbox tests: Debian's dovecot-imapd and dovecot-pop3d
(installed with apt-get when missing), run with its own config, folders, users and ports
on loopback; the system's Dovecot, if any, is never touched.

Ports: IMAP (STARTTLS offered, plain allowed), IMAPS, POP3 (STARTTLS offered), POP3S. The
certificate is self-signed for 127.0.0.1 and localhost; tests trust it with `tls_ca_file`.
Users come from a passwd-file; the password doubles as an XOAUTH2 bearer token.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.debian import apt_install
from tests.postfix.postfix_helpers import free_port, which

__all__ = ["PrivateDovecot", "ensure_dovecot"]

PACKAGES = ("dovecot-imapd", "dovecot-pop3d")
POOL = 200  # accounts made before the start, handed out one per test


def ensure_dovecot() -> str | None:
    """None when Dovecot can run here (installed now if missing), else why not."""
    if os.geteuid() != 0:
        return "a private Dovecot as the tests run it needs root (mail_uid = nobody)"
    if which("dovecot") and Path("/usr/lib/dovecot/imap").exists() \
            and Path("/usr/lib/dovecot/pop3").exists() and which("openssl"):
        return None
    why = apt_install((*PACKAGES, "openssl"))
    if why is None and not which("dovecot"):
        why = "apt-get installed Dovecot but it is not on the path"
    return why


CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
instance_name = maildesk-test-{port}
protocols = imap pop3
listen = 127.0.0.1
log_path = {root}/dovecot.log
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
mail_location = maildir:{root}/mail/%u
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users
}}
userdb {{
  driver = static
  args = home={root}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""


class PrivateDovecot:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="maildesk-dovecot-"))
        self.root.chmod(0o755)  # the mail processes run as nobody
        self.imap, self.imaps, self.pop3, self.pop3s = (free_port() for _ in range(4))
        self.users: dict[str, str] = {}
        self.taken: list[str] = []
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def cert(self) -> Path:
        return self.root / "cert.pem"

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    def write(self) -> None:
        for sub in ("run", "state"):
            (self.root / sub).mkdir(exist_ok=True)
        mail = self.root / "mail"
        mail.mkdir(exist_ok=True)
        shutil.chown(mail, "nobody", "nogroup")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(self.root / "key.pem"), "-out", str(self.cert)],
            check=True, capture_output=True, timeout=60)
        self.write_users()
        self.config.write_text(CONFIG.format(root=self.root, port=self.imap, imap=self.imap,
                                             imaps=self.imaps, pop3=self.pop3,
                                             pop3s=self.pop3s))

    def take_user(self) -> tuple[str, str]:
        """A fresh account. The users are written once before the start: Dovecot's cache of
        a passwd-file rewritten while it runs missed new users here."""
        user = f"box{len(self.taken)}@example.com"
        if user not in self.users:
            raise RuntimeError(f"all {POOL} test accounts are taken: raise POOL")
        self.taken.append(user)
        return user, self.users[user]

    def write_users(self) -> None:
        self.users = {f"box{i}@example.com": secrets.token_hex(8) for i in range(POOL)}
        (self.root / "users").write_text(
            "".join(f"{u}:{{PLAIN}}{p}\n" for u, p in self.users.items()))

    def start(self) -> None:
        self.write()
        self.process = subprocess.Popen(
            [which("dovecot") or "dovecot", "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while not self._listening():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Dovecot did not start:\n{self.log()}")
            time.sleep(0.05)

    def _listening(self) -> bool:
        for port in (self.imap, self.imaps, self.pop3, self.pop3s):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except OSError:
                return False
        return True

    def doveadm(self, *args: str) -> str:
        result = subprocess.run([which("doveadm") or "doveadm", "-c", str(self.config), *args],
                                capture_output=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)}: {result.stderr.decode()}")
        return result.stdout.decode()

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)
