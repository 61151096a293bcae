"""Helpers for the multi-daemon tests, the outage drill and bench/databases.py: a desk
served by real `maildesk serve` processes, a recording SMTP sink as the relay, SMTP
clients, and a private PostgreSQL cluster that may be stopped without disturbing anyone."""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from email import message_from_bytes
from glob import glob
from pathlib import Path

from tests.conftest import Desk, make_desk


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Sink:
    """The relay: an aiosmtpd server on loopback that records every delivery."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self.received: list[tuple[str, str]] = []  # (Message-ID, recipient)
        self._lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_EHLO(self, server, session, envelope, hostname,  # noqa: ANN001, ANN201
                                  responses):  # noqa: ANN001
                """PIPELINING offered, as Postfix does (aiosmtpd handles pipelined commands)."""
                session.host_name = hostname
                return [*responses[:-1], "250-PIPELINING", responses[-1]]

            async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201
                # A long Message-ID is folded onto its own line (RFC 5322 allows the space)
                raw_id = str(message_from_bytes(envelope.content)["Message-ID"] or "")
                mid = "".join(raw_id.split()).strip("<>")
                with sink._lock:
                    sink.received += [(mid, r.lower()) for r in envelope.rcpt_tos]
                return "250 2.0.0 Ok"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


class Served:
    """`maildesk serve` on one desk's config, ready when systemd would call it ready."""

    def __init__(self, desk: Desk, port: int) -> None:
        self.desk, self.port = desk, port
        self.sockdir = Path(tempfile.mkdtemp(prefix="mdn-"))
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.sockdir / "notify"))
        self.log_path = desk.root / "serve.log"
        env = {**os.environ, "NOTIFY_SOCKET": str(self.sockdir / "notify"),
               "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "maildesk", "--config", str(desk.config_path), "serve"],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=desk.root)
        self.notify.settimeout(0.2)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.log()}")
            try:
                if "READY=1" in self.notify.recv(4096).decode().split("\n"):
                    return
            except TimeoutError:
                continue
        raise AssertionError(f"daemon not ready within 90s:\n{self.log()}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.notify.close()
        shutil.rmtree(self.sockdir, ignore_errors=True)


def serve_desks(root: Path, database: str, count: int, relay_port: int,
                articles: str = "database") -> list[tuple[Desk, int]]:
    """`count` desks (own folders, spools and ports) on one database, sharing one secret so
    a reply token minted by one daemon is good at the others."""
    out: list[tuple[Desk, int]] = []
    for i in range(count):
        desk = make_desk(root / f"node{i}", database=database, articles=articles,
                         relay_port=relay_port)
        port = free_port()
        text = desk.config_path.read_text().replace("smtp: 127.0.0.1:0",
                                                    f"smtp: 127.0.0.1:{port}")
        text = text.replace("outbound:\n", "outbound:\n  retry_first: 1\n", 1)
        desk.config_path.write_text(text)
        if out:
            shutil.copy(out[0][0].config.instance.secret_file, desk.config.instance.secret_file)
        out.append((desk, port))
    return out


def send(port: int, raw: bytes, sender: str, recipient: str = "support@example.com",
         timeout: float = 60.0) -> int:
    """One SMTP transaction; the reply code to DATA (or to whatever refused first)."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as client:
            client.sendmail(sender, [recipient], raw)
        return 250
    except smtplib.SMTPResponseException as exc:
        return exc.smtp_code
    except smtplib.SMTPRecipientsRefused as exc:
        return next(iter(exc.recipients.values()))[0]
    except (OSError, smtplib.SMTPException):
        return 0


class PrivatePostgres:
    """A throw-away PostgreSQL cluster in /tmp on its own port: the outage drill stops and
    starts it while the shared service at 5432 keeps serving everyone else's tests."""

    def __init__(self) -> None:
        bins = sorted(glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise RuntimeError("no initdb under /usr/lib/postgresql/*/bin")
        self.bindir = Path(bins[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="maildesk-pg-"))
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: run the cluster as postgres
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run([*self.as_user, str(self.bindir / tool), *args],
                                capture_output=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed: {result.stderr.decode(errors='replace')[-500:]}")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-w", "-l", str(self.dir / "log"),
                  "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-w", "-m", "fast", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        except RuntimeError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
