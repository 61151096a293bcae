"""A private Postfix instance for the MTA integration tests, and the means to get one.

Postfix comes from the distribution's packages (installed here when missing, preseeded as
"No configuration" so the package sets up and starts no system instance). The instance
lives wholly in a temporary folder: its own config_directory, queue_directory and
data_directory, smtpd on one loopback port, no local delivery (`mydestination` empty), no
relayhost. /etc/postfix and the system's mail are never touched: every command gets `-c`.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from tests.debian import apt_install

SBIN = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")
HOSTNAME = "postfix.maildesk-test.invalid"  # not the machine's name: no "loops back to myself"


def which(command: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    return shutil.which(command, path=path)


def _tail(result: subprocess.CompletedProcess[bytes], lines: int = 8) -> str:
    text = (result.stdout + result.stderr).decode(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:])


def ensure_postfix() -> str | None:
    """None when Postfix can be run here (installed now if it was missing), else why not."""
    if os.geteuid() != 0:
        return "a private Postfix instance needs root (postfix start, queue ownership)"
    if all(which(c) for c in ("postfix", "postqueue", "postmap")):
        return None
    # Without the preseed the package may configure and start the system instance on port 25.
    why = apt_install(("postfix",), preseed=b"postfix postfix/main_mailer_type select "
                      b"No configuration\n")
    if why is None and not which("postfix"):
        why = "apt-get installed postfix but its programs are not on the path"
    return why


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float, what: str,
             detail: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s\n{detail()}")
        time.sleep(0.1)


# -- the unprivileged user of the pipe transport -------------------------------------------


def pipe_user() -> pwd.struct_passwd:
    """`nobody`: exists everywhere, is neither root nor Postfix's mail_owner (pipe refuses
    both), and needs no account created on the machine."""
    return pwd.getpwnam("nobody")


def run_as(user: pwd.struct_passwd, argv: list[str], **kwargs: object,
           ) -> subprocess.CompletedProcess[bytes]:
    """Run `argv` as `user`, as Postfix's pipe(8) would (own uid/gid, no extra groups);
    a program the user may not execute gives 126, as a shell would."""
    try:
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            argv, user=user.pw_uid, group=user.pw_gid, extra_groups=[], capture_output=True,
            env={"PATH": "/usr/bin:/bin", "HOME": "/", "LANG": "C.UTF-8"}, cwd="/",
            timeout=120, **kwargs)
    except OSError as exc:
        return subprocess.CompletedProcess(argv, 126, b"", str(exc).encode())


def maildesk_for(user: pwd.struct_passwd, folder: Path) -> tuple[str | None, str]:
    """A `maildesk` program that `user` can run: (path, "") or (None, why not).

    The console script of this interpreter when `user` can run it (as in production, where
    maildesk is installed for its user). Otherwise the venv's interpreter lies out of the
    user's reach (here pyenv under /root, mode 0700): then a launcher in `folder` runs the
    system Python of the same version (-I -S: nothing of the system's site-packages) on this
    venv's site-packages, which hold the same installed maildesk and dependencies; and if
    even those are out of reach (a checkout under a private folder), on a readable copy of
    them in `folder`."""
    script = Path(sys.executable).parent / "maildesk"
    if script.exists() and run_as(user, [str(script), "--help"]).returncode == 0:
        return str(script), ""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system_python = next((p for p in (f"/usr/bin/{version}", f"/usr/local/bin/{version}")
                          if os.access(p, os.X_OK)), None)
    if system_python is None:
        return None, (f"the pipe user {user.pw_name} cannot run {script} and there is no "
                      f"system {version} to run maildesk with")
    sites = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    launcher, why = _launcher(user, folder, system_python, sites)
    if launcher is None:
        launcher, why = _launcher(user, folder, system_python, [str(_copy_packages(folder))])
    if launcher is None:
        return None, f"the pipe user {user.pw_name} cannot run {script}, nor {why}"
    return launcher, ""


def _launcher(user: pwd.struct_passwd, folder: Path, python: str,
              sites: list[str]) -> tuple[str | None, str]:
    prelude = textwrap.dedent(f"""\
        import site
        import sys

        before = list(sys.path)
        for folder in {sites!r}:
            site.addsitedir(folder)
        sys.path[:] = [p for p in sys.path if p not in before] + before
        """)
    launcher = folder / "maildesk"
    launcher.write_text(f"#!{python} -IS\n# maildesk for an unprivileged user\n{prelude}"
                        "from maildesk.cli import main\n\nsys.exit(main())\n")
    launcher.chmod(0o755)
    imports = run_as(user, [python, "-IS", "-c",
                            prelude + "import maildesk.app, maildesk.pipeline"])
    if imports.returncode != 0 or run_as(user, [str(launcher), "--help"]).returncode != 0:
        return None, f"{launcher} ({python} on {sites}): {_tail(imports)}"
    return str(launcher), ""


def _copy_packages(folder: Path) -> Path:
    """This venv's installed packages and the maildesk package, copied where all may read."""
    import maildesk

    lib = folder / "lib"
    skip = shutil.ignore_patterns("__pycache__", "pip", "pip-*", "ruff", "ruff-*",
                                  "pytest", "_pytest", "__editable__*")
    for site in (p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()):
        shutil.copytree(site, lib, ignore=skip, dirs_exist_ok=True, symlinks=True)
    shutil.copytree(Path(maildesk.__file__).parent, lib / "maildesk", ignore=skip,
                    dirs_exist_ok=True)
    subprocess.run(["chmod", "-R", "a+rX", str(folder)], check=True, timeout=120)
    return lib


# -- the instance ----------------------------------------------------------------------------

# The maildesk part of the configuration, as docs/mta.md shows it (test_docs_match checks
# that every line of these, filled in with the docs' values, is in docs/mta.md).
MAIN_CF = """\
# maildesk's domains: relayed to it, for its known addresses only (550 at RCPT for the rest)
relay_domains = {domains}
relay_recipient_maps = hash:{etc}/maildesk_recipients
recipient_delimiter = +
transport_maps = hash:{etc}/transport
"""
MAIN_CF_PIPE = """\
maildesk_destination_recipient_limit = 1
"""
MASTER_CF_PIPE = """\
maildesk  unix  -       n       n       -       4       pipe
  flags=DRhu user={user} argv={maildesk} --config {config}
  deliver --sender ${{sender}} --recipient ${{recipient}}
"""
TRANSPORT = {
    "lmtp": "{domain}    lmtp:inet:127.0.0.1:{port}",
    "smtp": "{domain}    smtp:[127.0.0.1]:{port}",
    "pipe": "{domain}    maildesk:",
}



class PrivatePostfix:
    """Postfix with everything under `root`; smtpd on 127.0.0.1:`port`.

    `transports` maps a domain to a Postfix next hop (`lmtp:inet:127.0.0.1:2424`,
    `smtp:[127.0.0.1]:2525`, `maildesk:`); `helpdesk` lists the domains Postfix relays
    to maildesk and `recipients` the addresses it accepts there (the rest: 550 at RCPT);
    the `maildesk` pipe service runs `maildesk --config maildesk_config deliver` as
    `pipe_user`."""

    def __init__(self, root: Path, port: int, *, transports: dict[str, str],
                 helpdesk: list[str], recipients: list[str], maildesk: str,
                 maildesk_config: Path, pipe_user: str) -> None:
        self.root = root
        self.port = port
        self.etc = root / "etc"
        self.queue_dir = root / "queue"
        self.data_dir = root / "data"
        self.log_path = root / "postfix.log"
        self.transports = transports
        self.helpdesk = helpdesk
        self.recipients = recipients
        self.maildesk = maildesk
        self.maildesk_config = maildesk_config
        self.pipe_user = pipe_user
        self.started = False

    def main_cf(self) -> str:
        private = textwrap.dedent(f"""\
            # A private instance: own folders, loopback only, no local mail, no relayhost.
            compatibility_level = 3.6
            queue_directory = {self.queue_dir}
            data_directory = {self.data_dir}
            maillog_file = {self.log_path}
            maillog_file_prefixes = {self.root}
            inet_interfaces = loopback-only
            inet_protocols = ipv4
            myhostname = {HOSTNAME}
            mydestination =
            mynetworks = 127.0.0.0/8
            relayhost =
            alias_maps =
            alias_database =
            smtpd_peername_lookup = no

            # Retries happen when the test says (postqueue -f), never behind its back: a
            # deferred mail stays deferred while the test looks at it.
            queue_run_delay = 1h
            minimal_backoff_time = 1h
            maximal_backoff_time = 1h

            """)
        return private + MAIN_CF.format(domains=" ".join(self.helpdesk), etc=self.etc) \
            + MAIN_CF_PIPE

    def master_cf(self) -> str:
        services = [
            f"127.0.0.1:{self.port} inet n - n - - smtpd",
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "smtp unix - - n - - smtp",
            "relay unix - - n - - smtp",
            "lmtp unix - - n - - lmtp",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ]
        return "\n".join(services) + "\n" + MASTER_CF_PIPE.format(
            user=self.pipe_user, maildesk=self.maildesk, config=self.maildesk_config)

    def write(self) -> None:
        for folder in (self.etc, self.queue_dir, self.data_dir):
            folder.mkdir(parents=True, exist_ok=True)
        # postfix check: queue_directory owned by root, data_directory by mail_owner
        shutil.chown(self.data_dir, "postfix", "postfix")
        (self.etc / "main.cf").write_text(self.main_cf())
        (self.etc / "master.cf").write_text(self.master_cf())
        (self.etc / "transport").write_text(
            "".join(f"{d}    {hop}\n" for d, hop in self.transports.items()))
        (self.etc / "maildesk_recipients").write_text(
            "".join(f"{a}\tOK\n" for a in self.recipients))
        for table in ("transport", "maildesk_recipients"):
            self.command("postmap", "-c", str(self.etc), f"hash:{self.etc / table}")

    def command(self, name: str, *args: str, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        program = which(name)
        assert program is not None, f"{name} not found"
        result = subprocess.run([program, *args], capture_output=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{name} {' '.join(args)} exited {result.returncode}: "
                                 f"{_tail(result, 20)}\n{self.log()}")
        return result

    def start(self) -> None:
        self.write()
        self.command("postfix", "-c", str(self.etc), "check")
        self.started = True  # from here on stop() has something to stop
        self.command("postfix", "-c", str(self.etc), "start")
        wait_for(self._listening, 20, f"Postfix listening on 127.0.0.1:{self.port}", self.log)

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def master_pid(self) -> int | None:
        try:
            return int((self.queue_dir / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """`postfix stop`, then wait for our master (this instance's pid only) to exit."""
        if not self.started:
            return
        self.started = False
        pid = self.master_pid()
        self.command("postfix", "-c", str(self.etc), "stop", check=False)
        if pid is None:
            return
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):  # stop did not do it: end this instance's master, nothing else
            os.kill(pid, signal.SIGKILL)

    def queue(self) -> list[dict[str, object]]:
        """The queue as `postqueue -j` lists it: one dict per message."""
        result = self.command("postqueue", "-c", str(self.etc), "-j")
        return [json.loads(line) for line in result.stdout.decode().splitlines() if line]

    def flush(self) -> None:
        self.command("postqueue", "-c", str(self.etc), "-f")

    def wait_empty(self, timeout: float = 30) -> None:
        wait_for(lambda: not self.queue(), timeout, "Postfix queue empty",
                 lambda: f"queue: {self.queue()}\n{self.log()}")

    def deferred(self) -> dict[str, str]:
        """Recipient -> delay reason, for the mails in the deferred queue."""
        return {str(r["address"]): str(r.get("delay_reason", ""))
                for m in self.queue() if m["queue_name"] == "deferred"
                for r in m["recipients"]}  # type: ignore[attr-defined]

    def delivered(self, recipient: str) -> list[str]:
        """The log lines of successful deliveries to `recipient`."""
        return [line for line in self.log().splitlines()
                if f"to=<{recipient}>" in line and "status=sent" in line]

    def log(self) -> str:
        if not self.log_path.exists():
            return "(no Postfix log)"
        return "Postfix log:\n" + self.log_path.read_text(errors="replace")[-6000:]


def _alive(pid: int) -> bool:
    """Whether `pid` is still a Postfix master (not a later process that got its number)."""
    try:
        return b"master" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
