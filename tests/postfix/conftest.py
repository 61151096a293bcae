"""The stack of the MTA tests: a private Postfix in front of maildesk on three routes, and
a sink behind it for the customer's domain.

    client --smtp--> Postfix :P --lmtp--> maildesk serve (lmtp.example.com)
                             --smtp--> maildesk serve (smtp.example.com)
                             --pipe--> maildesk deliver, as `nobody` (pipe.example.com)
    maildesk serve --outbound.relay--> Postfix :P --smtp--> sink (customer/agents domains)

Everything lives in one temporary folder under /tmp (readable by Postfix's own users and by
the pipe's user, unlike pytest's 0700 tmp_path) and is stopped and removed afterwards.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import smtplib
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Desk
from tests.outbound.conftest import Sink
from tests.postfix.postfix_helpers import (
    TRANSPORT,
    PrivatePostfix,
    ensure_postfix,
    free_port,
    maildesk_for,
    pipe_user,
    run_as,
)
from tests.smtp.smtp_helpers import Daemon, prepare

CUSTOMER = "carol@customer.example"
AGENT = "alice@agents.example"
LMTP_ADDRESS = "support@lmtp.example.com"
SMTP_ADDRESS = "sales@smtp.example.com"
PIPE_ADDRESS = "help@pipe.example.com"
BOUNCES = "bounces@lmtp.example.com"

CONFIG = """\
instance:
  name: Postfix Test Support
  system_id: 10
  secret_file: {folder}/var/secret
database: sqlite:///{database}
storage:
  path: {folder}/var
listen:
  smtp: 127.0.0.1:{smtp_port}
  lmtp: {lmtp}
outbound:
  relay: 127.0.0.1:{relay_port}
  bounce_address: {bounces}
  retry_first: 1s
queues:
{queues}groups:
  support: {{{permissions}}}
agents:
  - address: {agent}
    name: Alice Agent
    groups: [support]
"""


def write_config(folder: Path, *, queues: dict[str, str], relay_port: int,
                 lmtp_port: int | None, bounces: str, database: Path) -> Path:
    """A maildesk.yaml with absolute paths (the pipe runs `deliver` from Postfix's cwd)."""
    path = folder / "maildesk.yaml"
    path.write_text(CONFIG.format(
        folder=folder, database=database, smtp_port=free_port(), relay_port=relay_port,
        lmtp=f"127.0.0.1:{lmtp_port}" if lmtp_port else "null", bounces=bounces,
        agent=AGENT,
        queues="".join(f"  - name: {name}\n    address: {address}\n    group: support\n"
                       for name, address in queues.items()),
        permissions=", ".join(f"{name}: [read, note, reply, close]" for name in queues),
    ))
    return path


def route(kind: str, port: int = 0) -> str:
    """The next hop of a transport map entry of `kind` (lmtp, smtp, pipe), as documented."""
    return TRANSPORT[kind].format(domain="", port=port).strip()


def unavailable(reason: str) -> None:
    """Skip with the reason; under CI (CI=true) the test must run, so fail instead."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Postfix integration test cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postfix_installed() -> None:
    reason = ensure_postfix()
    if reason is not None:
        unavailable(reason)


@pytest.fixture(scope="session")
def pipe_maildesk(postfix_installed: None) -> Iterator[tuple[str | None, str]]:
    """The `maildesk` program the pipe's user runs, or None and why it cannot."""
    folder = Path(tempfile.mkdtemp(prefix="maildesk-pipe-", dir=tmp_base()))
    folder.chmod(0o755)
    try:
        yield maildesk_for(pipe_user(), folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def tmp_base() -> Path:
    """/tmp, not pytest's 0700 tmp_path: Postfix's users and the pipe's user must get in."""
    return Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())


@dataclass
class Stack:
    root: Path
    postfix: PrivatePostfix
    daemon: Daemon
    desk: Desk  # behind LMTP and SMTP, run as root like the test
    pipe_config: Path  # the pipe desk, owned by and only ever run as the pipe user
    pipe_db: Path
    maildesk: str  # the program the pipe runs
    pipe_unavailable: str  # why the pipe user cannot run maildesk here, or ""
    user: pwd.struct_passwd
    sink: Sink

    def submit(self, raw: bytes, to: str, sender: str = CUSTOMER) -> None:
        """Hand a mail to Postfix as any client would; Postfix must accept it."""
        with smtplib.SMTP("127.0.0.1", self.postfix.port, timeout=15) as smtp:
            refused = smtp.sendmail(sender, [to], raw)
        assert refused == {}, refused

    def pipe_cli(self, *args: str, input: bytes | None = None,
                 ) -> subprocess.CompletedProcess[bytes]:
        """The pipe desk's CLI, as its own user (root would leave root-owned SQLite files)."""
        return run_as(self.user, [self.maildesk, "--config", str(self.pipe_config), *args],
                      input=input)

    def pipe_tickets(self) -> list[dict[str, Any]]:
        result = self.pipe_cli("tickets", "--json")
        assert result.returncode == 0, result.stderr.decode()
        return list(json.loads(result.stdout))

    def pipe_show(self, number: str) -> dict[str, Any]:
        result = self.pipe_cli("show", number, "--json")
        assert result.returncode == 0, result.stderr.decode()
        return dict(json.loads(result.stdout))


@pytest.fixture
def stack(postfix_installed: None, pipe_maildesk: tuple[str | None, str]) -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="maildesk-postfix-", dir=tmp_base()))
    root.chmod(0o755)  # Postfix's daemons and the pipe's user walk through it
    started: list[object] = []
    try:
        user = pipe_user()
        program, pipe_unavailable = pipe_maildesk
        postfix_port, lmtp_port, sink_port = free_port(), free_port(), free_port()

        sink = Sink(sink_port).start()
        started.append(sink)

        folder = root / "desk"
        folder.mkdir()
        config = write_config(folder, queues={"Support": LMTP_ADDRESS, "Sales": SMTP_ADDRESS},
                              relay_port=postfix_port, lmtp_port=lmtp_port, bounces=BOUNCES,
                              database=folder / "var" / "maildesk.db")
        prepare(config)
        daemon = Daemon(config)
        started.append(daemon)
        daemon.start()

        # The pipe desk: created by its user, so the database and the article store are
        # its own (Postfix refuses to run a pipe as root).
        pipe_folder = root / "pipe"
        pipe_db = pipe_folder / "db" / "maildesk.db"
        pipe_db.parent.mkdir(parents=True)
        for path in (pipe_folder, pipe_db.parent):
            os.chown(path, user.pw_uid, user.pw_gid)
        pipe_config = write_config(pipe_folder, queues={"Help": PIPE_ADDRESS},
                                   relay_port=postfix_port, lmtp_port=None,
                                   bounces="bounces@pipe.example.com", database=pipe_db)
        if program is not None:
            init = run_as(user, [program, "--config", str(pipe_config), "init"])
            assert init.returncode == 0, init.stderr.decode()

        postfix = PrivatePostfix(
            root / "postfix", postfix_port,
            transports={
                "lmtp.example.com": route("lmtp", lmtp_port),
                "smtp.example.com": route("smtp", daemon.port("smtp")),
                "pipe.example.com": route("pipe"),
                "customer.example": route("smtp", sink_port),
                "agents.example": route("smtp", sink_port),
            },
            helpdesk=["lmtp.example.com", "smtp.example.com", "pipe.example.com"],
            recipients=[LMTP_ADDRESS, SMTP_ADDRESS, PIPE_ADDRESS, BOUNCES,
                        "bounces@pipe.example.com"],
            maildesk=program or "/bin/false", maildesk_config=pipe_config,
            pipe_user=user.pw_name,
        )
        started.append(postfix)
        postfix.start()

        yield Stack(root, postfix, daemon, Desk(folder, config), pipe_config, pipe_db,
                    program or "", pipe_unavailable, user, sink)
    finally:
        # Postfix first (it would go on delivering), then maildesk, then the sink.
        for thing in reversed(started):
            if isinstance(thing, PrivatePostfix):
                thing.stop()
            elif isinstance(thing, Daemon):
                thing.close()
            elif isinstance(thing, Sink):
                thing.stop()
        shutil.rmtree(root, ignore_errors=True)
