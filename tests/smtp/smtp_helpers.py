"""Helpers for the daemon tests (tests/smtp is on sys.path, so `import smtp_helpers`).

A real config in tmp_path, a real `maildesk serve` subprocess that says it is ready the
systemd way ($NOTIFY_SOCKET), raw SMTP over loopback, and the SQLite database read directly
to see what was stored."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """\
instance:
  name: Test Support
  system_id: 10
  secret_file: ./var/secret
database: sqlite:///{db}
storage:
  path: ./var
listen:
  smtp: 127.0.0.1:{smtp_port}
  lmtp: {lmtp}
  max_message_size: {max_message_size}
  max_recipients: {max_recipients}
  idle_timeout: {idle_timeout}
  max_connections: {max_connections}
  max_connections_per_client: {max_connections_per_client}
{extra_listen}outbound:
  relay: 127.0.0.1:9
  bounce_address: bounces@example.com
queues:
  - name: Support
    address: support@example.com
    group: support
    autoresponse: {{new: false, followup: false}}
  - name: Billing
    address: billing@example.com
    group: billing
    autoresponse: {{new: false, followup: false}}
{extra_queues}groups:
  support: {{Support: [read, note, reply, close]}}
  billing: {{Billing: [read, note, reply, close]}}
agents:
  - address: alice@example.com
    name: Alice Example
    groups: [support, billing]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(folder: Path, *, smtp_port: int | None = None, lmtp_port: int | None = None,
                 max_message_size: str = "25MiB", max_recipients: int = 100,
                 idle_timeout: str = "5m", max_connections: int = 200,
                 max_connections_per_client: int = 20, extra_listen: str = "",
                 extra_queues: str = "", name: str = "maildesk.yaml") -> Path:
    """A config per SPEC section 12, everything under `folder`."""
    path = folder / name
    path.write_text(CONFIG.format(
        db=folder / "var" / "maildesk.db",
        smtp_port=smtp_port or free_port(),
        lmtp=f"127.0.0.1:{lmtp_port}" if lmtp_port else "null",
        max_message_size=max_message_size,
        max_recipients=max_recipients,
        idle_timeout=idle_timeout,
        max_connections=max_connections,
        max_connections_per_client=max_connections_per_client,
        extra_listen=extra_listen,
        extra_queues=extra_queues,
    ))
    return path


def mail(message_id: str, subject: str = "Help please", size: int = 0,
         sender: str = "carol@customer.example", to: str = "support@example.com",
         body: str = "My printer is on fire.\r\n") -> bytes:
    """A plain customer mail with CRLF line ends; padded with quoted lines to `size`."""
    head = (f"From: Carol <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{message_id}>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
    text = head + body
    n = 0
    while len(text) < size:
        n += 1
        text += f"> quoted line {n} of an earlier message, kept to make the mail bigger\r\n"
    return text.encode()


class Daemon:
    """`maildesk --config PATH serve` as a subprocess, as systemd would run it."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.folder = config.parent
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.folder / "serve.log"
        self._sockdir = Path(tempfile.mkdtemp(prefix="mdn-"))  # AF_UNIX paths are short
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self._sockdir / "notify"))
        self.notes: list[str] = []

    def port(self, kind: str = "smtp") -> int:
        """The port of the `smtp` or `lmtp` listener, as written in the config."""
        for line in self.config.read_text().splitlines():
            if line.strip().startswith(f"{kind}: 127.0.0.1:"):
                return int(line.rsplit(":", 1)[1])
        raise KeyError(kind)

    @property
    def db_path(self) -> Path:
        return self.folder / "var" / "maildesk.db"

    def start(self, timeout: float = 20.0, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "NOTIFY_SOCKET": str(self._sockdir / "notify"),
                    "PYTHONUNBUFFERED": "1", **(env or {})}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "maildesk", "--config", str(self.config), "serve"],
            stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=self.folder,
        )
        log.close()
        self.wait_note("READY=1", timeout)

    def wait_note(self, field: str, timeout: float = 10.0) -> list[str]:
        """Wait for a systemd notification carrying `field`; return its fields."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.log()}")
            self.notify.settimeout(0.1)
            try:
                data = self.notify.recv(4096).decode()
            except TimeoutError:
                continue
            fields = data.split("\n")
            self.notes.extend(fields)
            if field in fields:
                return fields
        raise AssertionError(f"no {field} from the daemon within {timeout}s:\n{self.log()}")

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 40.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def close(self) -> None:
        self.stop()
        self.notify.close()
        shutil.rmtree(self._sockdir, ignore_errors=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def articles(self) -> dict[str, int]:
        """Message-ID (without <>) -> number of articles holding it."""
        with sqlite3.connect(self.db_path, timeout=30) as conn:
            rows = conn.execute(
                "SELECT message_id, COUNT(*) FROM articles GROUP BY message_id").fetchall()
        return {str(mid).strip("<>"): n for mid, n in rows if mid}

    def spooled(self, which: str = "inbound") -> list[Path]:
        return sorted((self.folder / "var" / "spool" / which).glob("*.mail"))

    def blob_place(self, key: str) -> tuple[Path, int, int]:
        """Where the article store keeps `key`: (its own file, 0, size), or (the segment
        file, start, length) for what the mail path appended (store/segments.py)."""
        articles = self.folder / "var" / "articles"
        file = articles / key[:2] / key[2:4] / key
        if file.exists():
            return file, 0, file.stat().st_size
        with sqlite3.connect(self.db_path, timeout=30) as conn:
            segment, start, length = conn.execute(
                "SELECT segment, start, length FROM article_segments WHERE key = ?",
                (key,)).fetchone()
        return articles / "segments" / segment, int(start), int(length)

    def blob(self, key: str) -> bytes:
        """The bytes the article store keeps under `key`, read behind its back."""
        path, start, length = self.blob_place(key)
        with path.open("rb") as f:
            f.seek(start)
            return f.read(length)


def prepare(config: Path) -> None:
    """`maildesk init` on an existing config: secret and database schema."""
    subprocess.run([sys.executable, "-m", "maildesk", "--config", str(config), "init"],
                   check=True, capture_output=True, timeout=60, cwd=config.parent)


class Client:
    """A raw SMTP/LMTP client on a socket: send exact bytes, read whole replies. Every one
    opened is closed after its test (tests/smtp/conftest.py): an unclosed socket is a
    ResourceWarning, which fails the test that happens to collect it."""

    opened: list[Client] = []

    def __init__(self, port: int, source: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0))
        self.buf = b""
        Client.opened.append(self)

    @classmethod
    def close_all(cls) -> None:
        while cls.opened:
            cls.opened.pop().close()

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def replies(self, count: int = 1, timeout: float = 10.0) -> list[str]:
        """The last line of each of the next `count` replies (multi-line ones count once)."""
        self.sock.settimeout(timeout)
        out: list[str] = []
        while len(out) < count:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"closed after {out!r} (pending {self.buf!r})")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            text = line.decode()
            if not (len(text) >= 4 and text[3] == "-"):
                out.append(text)
        return out

    def lines(self, timeout: float = 10.0) -> list[str]:
        """Every line of the next reply (for EHLO capabilities)."""
        self.sock.settimeout(timeout)
        out: list[str] = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"closed after {out!r}")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            out.append(line.decode())
            if not (len(line) >= 4 and line[3:4] == b"-"):
                return out

    def closed_by_peer(self, timeout: float = 10.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()
