"""IMAP against a private Dovecot: fetch, then move, delete or flag, only after the commit."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.conftest import Desk, simple_mail
from tests.mailboxes.conftest import Account

pytestmark = pytest.mark.dovecot


def _fetch(desk: Desk, *args: str) -> str:
    result = desk.cli("fetch", "--once", *args)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def _subjects(desk: Desk) -> list[str]:
    return sorted(t["title"] for t in desk.tickets())


@pytest.mark.parametrize("scheme", ["imaps", "imap", "imap+plain"])
def test_fetch_then_move(account: Account, mailbox_desk: Callable[..., Desk],
                         scheme: str) -> None:
    """TLS, STARTTLS (both with the self-signed certificate the config trusts) and plain:
    every mail becomes a ticket and is moved to the folder, created when missing."""
    account.append(simple_mail("first"), simple_mail("second"))
    desk = mailbox_desk((account, {"scheme": scheme, "after": "move:Processed"}))
    assert "2 mails fetched" in _fetch(desk)
    assert _subjects(desk) == ["first", "second"]
    assert account.uids("INBOX") == []
    assert len(account.uids("Processed")) == 2
    assert "0 mails fetched" in _fetch(desk)
    assert len(desk.tickets()) == 2


def test_fetch_then_delete(account: Account, mailbox_desk: Callable[..., Desk]) -> None:
    account.append(simple_mail("to delete"))
    desk = mailbox_desk((account, {"after": "delete"}))
    _fetch(desk)
    assert _subjects(desk) == ["to delete"]
    assert account.uids("INBOX") == []


def test_fetch_then_flag_seen_keeps_mail_and_never_refetches(
        account: Account, mailbox_desk: Callable[..., Desk]) -> None:
    account.append(simple_mail("keep me"))
    desk = mailbox_desk((account, {"after": "seen"}))
    _fetch(desk)
    assert _subjects(desk) == ["keep me"]
    assert list(account.flags().values()) == ["\\Seen"]
    account.append(simple_mail("later"))
    assert "1 mails fetched" in _fetch(desk)
    assert _subjects(desk) == ["keep me", "later"]
    status = json.loads(desk.cli("fetch", "--status", "--json").stdout)
    assert status[0]["name"] == "support"
    assert status[0]["fetched"] == 2 and status[0]["last_error"] is None
    assert status[0]["last_success_at"] is not None


def test_wrong_password_is_reported_and_other_mailboxes_still_work(
        account_factory: Callable[..., Account], mailbox_desk: Callable[..., Desk]) -> None:
    good, bad = account_factory(), account_factory()
    good.append(simple_mail("good mail"))
    bad.append(simple_mail("never fetched"))
    desk = mailbox_desk((bad, {"name": "broken", "secret": "wrong"}),
                        (good, {"name": "working"}))
    result = desk.cli("fetch", "--once")
    assert result.returncode == 75
    assert "broken: login failed" in result.stderr.decode()
    assert _subjects(desk) == ["good mail"]
    status = {s["name"]: s for s in json.loads(desk.cli("fetch", "--status", "--json").stdout)}
    assert status["broken"]["auth_failed"] is True
    assert "login refused" in status["broken"]["last_error"]
    assert status["working"]["auth_failed"] is False
    text = desk.cli("fetch", "--status").stdout.decode()
    assert "broken: AUTH FAILED" in text and "working: ok" in text
