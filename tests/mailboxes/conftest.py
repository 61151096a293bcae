"""Fixtures of the mailbox tests: one private Dovecot per run (tests/mailboxes/dovecot.py),
a fresh account per test, and desks whose config fetches from it."""

from __future__ import annotations

import imaplib
import os
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Desk, make_desk
from tests.mailboxes.dovecot import PrivateDovecot, ensure_dovecot


def _unavailable(reason: str) -> None:
    """Skip with the reason; under CI (CI=true) the test must run, so fail instead."""
    if os.environ.get("CI"):
        pytest.fail(f"Dovecot integration test cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[PrivateDovecot]:
    reason = ensure_dovecot()
    if reason is not None:
        _unavailable(reason)
    server = PrivateDovecot()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@dataclass
class Account:
    """A user on the private Dovecot, driven as a mail client would (imaplib)."""

    server: PrivateDovecot
    user: str
    password: str

    def imap(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.server.imap)
        client.login(self.user, self.password)
        return client

    def append(self, *mails: bytes, folder: str = "INBOX") -> None:
        client = self.imap()
        try:
            for raw in mails:
                typ, data = client.append(folder, None, None, raw)
                assert typ == "OK", data
        finally:
            client.logout()

    def uids(self, folder: str = "INBOX") -> list[int]:
        client = self.imap()
        try:
            typ, data = client.select(folder)
            if typ != "OK":
                return []
            _, found = client.uid("SEARCH", "ALL")
            return [int(u) for u in found[0].split()]
        finally:
            client.logout()

    def flags(self, folder: str = "INBOX") -> dict[int, str]:
        client = self.imap()
        try:
            client.select(folder)
            _, data = client.uid("FETCH", "1:*", "(FLAGS)")
            out = {}
            for item in data:
                if not item:
                    continue
                text = item.decode() if isinstance(item, bytes) else item[0].decode()
                uid = int(text.split("UID ")[1].split()[0].rstrip(")"))
                out[uid] = text.split("FLAGS (")[1].split(")")[0]
            return out
        finally:
            client.logout()


@pytest.fixture
def account_factory(dovecot: PrivateDovecot) -> Callable[..., Account]:
    def make() -> Account:
        user, password = dovecot.take_user()
        return Account(dovecot, user, password)

    return make


@pytest.fixture
def account(account_factory: Callable[..., Account]) -> Account:
    return account_factory()


def mailbox_yaml(account: Account, *, name: str = "support", scheme: str = "imaps",
                 after: str = "seen", secret_file: Path, extra: str = "",
                 oauth2: bool = False) -> str:
    server = account.server
    port = {"imaps": server.imaps, "imap": server.imap, "imap+plain": server.imap,
            "pop3s": server.pop3s, "pop3": server.pop3, "pop3+plain": server.pop3}[scheme]
    path = "/INBOX" if scheme.startswith("imap") else ""
    user = account.user.replace("@", "%40")
    key = "oauth2_token_file" if oauth2 else "password_file"
    return textwrap.indent(textwrap.dedent(f"""\
        - name: {name}
          url: {scheme}://{user}@127.0.0.1:{port}{path}
          {key}: {secret_file}
          tls_ca_file: {server.cert}
          recipient: support@example.com
          after: "{after}"
        """) + textwrap.indent(textwrap.dedent(extra), "  "), "  ")


@pytest.fixture
def mailbox_desk(tmp_path: Path) -> Callable[..., Desk]:
    """A desk fetching from the given accounts: `mailbox_desk((account, options), ...)`."""
    counter = iter(range(100))

    def make(*boxes: tuple[Account, dict[str, object]], database: str | None = None) -> Desk:
        root = tmp_path / f"desk{next(counter)}"
        root.mkdir()
        entries = []
        for i, (acct, options) in enumerate(boxes):
            secret = root / f"secret{i}"
            secret.write_text(str(options.pop("secret", acct.password)) + "\n")
            entries.append(mailbox_yaml(acct, secret_file=secret, **options))  # type: ignore[arg-type]
        return make_desk(root, database=database, extra="mailboxes:\n" + "".join(entries))

    return make
