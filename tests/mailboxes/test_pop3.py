"""POP3 against a private Dovecot: UIDL remembers what is stored; DELE only after it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Desk, simple_mail
from tests.mailboxes.conftest import Account

pytestmark = pytest.mark.dovecot


def _fetch(desk: Desk) -> str:
    result = desk.cli("fetch", "--once")
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


@pytest.mark.parametrize("scheme", ["pop3s", "pop3"])
def test_pop3_keep_remembers_uidls(account: Account, mailbox_desk: Callable[..., Desk],
                                   scheme: str) -> None:
    """`seen` on POP3 keeps the mail on the server; its UIDL keeps it from a second ticket."""
    account.append(simple_mail("pop one"), simple_mail("pop two"))
    desk = mailbox_desk((account, {"scheme": scheme, "after": "seen"}))
    assert "2 mails fetched" in _fetch(desk)
    assert "0 mails fetched" in _fetch(desk)
    account.append(simple_mail("pop three"))
    assert "1 mails fetched" in _fetch(desk)
    assert sorted(t["title"] for t in desk.tickets()) == ["pop one", "pop three", "pop two"]
    assert len(account.uids()) == 3


def test_pop3_delete(account: Account, mailbox_desk: Callable[..., Desk]) -> None:
    account.append(simple_mail("pop delete"))
    desk = mailbox_desk((account, {"scheme": "pop3s", "after": "delete"}))
    _fetch(desk)
    assert [t["title"] for t in desk.tickets()] == ["pop delete"]
    assert account.uids() == []


def test_pop3_since_skips_and_keeps_old_mail(account: Account,
                                              mailbox_desk: Callable[..., Desk]) -> None:
    old = simple_mail("old").replace(b"Wed, 25 Nov 2026", b"Tue, 25 Nov 2025")
    account.append(old, simple_mail("new"))
    desk = mailbox_desk((account, {"scheme": "pop3s", "after": "delete",
                                   "extra": "since: 2026-01-01\n"}))
    _fetch(desk)
    _fetch(desk)
    assert [t["title"] for t in desk.tickets()] == ["new"]
    assert len(account.uids()) == 1  # the old mail stays on the server, untouched


@pytest.mark.parametrize("scheme", ["imaps", "pop3s"])
def test_xoauth2_token_file(account: Account, mailbox_desk: Callable[..., Desk],
                            scheme: str, tmp_path: Path) -> None:
    """XOAUTH2 with the token as the JSON a token endpoint answers (Dovecot's passwd-file
    checks the bearer token like a password: enough for the client side)."""
    account.append(simple_mail("oauth"))
    token = json.dumps({"access_token": account.password, "expires_in": 3599})
    desk = mailbox_desk((account, {"scheme": scheme, "oauth2": True, "secret": token}))
    _fetch(desk)
    assert [t["title"] for t in desk.tickets()] == ["oauth"]
