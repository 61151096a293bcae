"""Shared fixtures: a real config file in a temporary folder, a migrated database, the CLI
run as a real subprocess (as an MTA or an admin would run it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from maildesk.app import App, ensure_secret, open_app
from maildesk.config import Config, load_config
from maildesk.intake.message import Envelope
from maildesk.store.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "emails"
CORPUS = REPO.parent / "shared" / "corpus"

BASE_CONFIG = """\
instance:
  name: Example Support
  system_id: 10
  secret_file: ./var/secret
database: {database}
storage:
  path: ./var
  articles: {articles}
listen:
  smtp: 127.0.0.1:0
outbound:
  relay: 127.0.0.1:{relay_port}
  bounce_address: bounces@example.com
queues:
  - name: Support
    address: support@example.com
    display_name: Example Support
    language: en
    group: support
    on_closed_followup: reopen
  - name: Billing
    address: billing@example.com
    display_name: Example Billing
    group: billing
    on_closed_followup: new_ticket
  - name: Sales
    address: sales@example.com
    group: support
    on_closed_followup: reject
  - name: Junk
    address: junk@example.com
    group: support
groups:
  support:
    Support: [read, note, reply, move, priority, lock, owner, close, merge]
    Sales: [read, note, reply, move, priority, lock, owner, close, merge]
    Junk: [read, move]
  billing:
    Billing: [read, note, reply, move, priority, lock, close]
agents:
  - address: alice@example.com
    name: Alice Example
    groups: [support, billing]
  - address: bob@example.com
    name: Bob Example
    groups: [billing]
rules:
  - name: invoices go to billing
    match: {{subject: {{regex: "(?i)invoice|factura|rechnung"}}}}
    set: {{queue: Billing, priority: 4}}
  - name: spam
    match: {{header: {{X-Spam-Flag: "YES"}}}}
    set: {{queue: Junk}}
    autoresponse: false
    stop: true
  - name: drop the known spammer
    match: {{from: "*@spam.example.net"}}
    ignore: true
  - name: refuse the blocked sender
    match: {{from: "blocked@example.org"}}
    reject: "We do not accept mail from you."
"""


def mail_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def simple_mail(
    subject: str = "Printer on fire",
    sender: str = "carol@example.org",
    to: str = "support@example.com",
    body: str = "Hello,\nthe printer is on fire.\n",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    import uuid

    lines = [
        f"From: Carol Customer <{sender}>",
        f"To: {to}",
        f"Subject: {subject}",
        f"Message-ID: <{message_id or uuid.uuid4().hex + '@example.org'}>",
        "Date: Wed, 25 Nov 2026 10:00:00 +0000",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()


@dataclass
class Desk:
    """A maildesk instance in a temporary folder, driven like an admin would drive it."""

    root: Path
    config_path: Path

    @property
    def config(self) -> Config:
        return load_config(self.config_path)

    def app(self) -> App:
        return open_app(self.config)

    def cli(self, *args: str, input: bytes | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "maildesk", "--config", str(self.config_path), *args],
            input=input, capture_output=True, timeout=120, cwd=self.root,
            env={**os.environ, **(env or {})},
        )

    def deliver(self, raw: bytes, sender: str = "carol@example.org",
                recipients: tuple[str, ...] = ("support@example.com",)) -> int:
        args = ["deliver", "--sender", sender]
        for r in recipients:
            args += ["--recipient", r]
        return self.cli(*args, input=raw).returncode

    def ingest(self, raw: bytes, sender: str = "carol@example.org",
               recipients: tuple[str, ...] = ("support@example.com",)):  # noqa: ANN201
        app = self.app()
        try:
            return app.ingest(raw, Envelope(sender=sender, recipients=recipients))
        finally:
            app.close()

    def show(self, number: str) -> dict:
        result = self.cli("show", number, "--json")
        assert result.returncode == 0, result.stderr.decode()
        return json.loads(result.stdout)

    def tickets(self, *args: str) -> list[dict]:
        result = self.cli("tickets", "--json", *args)
        assert result.returncode == 0, result.stderr.decode()
        return json.loads(result.stdout)


def make_desk(root: Path, *, database: str | None = None, articles: str = "filesystem",
              relay_port: int = 2, extra: str = "") -> Desk:
    root.mkdir(parents=True, exist_ok=True)
    database = database or "sqlite:///./var/maildesk.db"
    text = BASE_CONFIG.format(database=database, articles=articles, relay_port=relay_port)
    config_path = root / "maildesk.yaml"
    config_path.write_text(text + textwrap.dedent(extra))
    config = load_config(config_path)
    ensure_secret(config.instance.secret_file)
    app = open_app(config)
    upgrade(app.db)
    app.close()
    return Desk(root, config_path)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    yield make_desk(tmp_path / "desk")


@pytest.fixture
def desk_factory(tmp_path: Path) -> Callable[..., Desk]:
    counter = iter(range(1000))

    def factory(**kwargs: object) -> Desk:
        return make_desk(tmp_path / f"desk{next(counter)}", **kwargs)  # type: ignore[arg-type]

    return factory
