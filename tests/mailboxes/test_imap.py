"""IMAP against a private Dovecot: fetch, then move, delete or flag, only after the commit."""

from __future__ import annotations

import imaplib
import json
import os
import subprocess
import sys
import time
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


def test_since_skips_old_mail_and_leaves_it_alone(account: Account,
                                                  mailbox_desk: Callable[..., Desk]) -> None:
    """`since` uses the server's arrival date (IMAP SINCE): older mail is neither fetched
    nor deleted, even with `after: delete`, on this pass or the next."""
    client = account.imap()
    try:
        client.append("INBOX", None, imaplib.Time2Internaldate(time.mktime(
            (2025, 6, 1, 12, 0, 0, 0, 0, -1))), simple_mail("from last year"))
    finally:
        client.logout()
    account.append(simple_mail("this year"))
    desk = mailbox_desk((account, {"after": "delete", "extra": "since: 2026-01-01\n"}))
    assert "1 mails fetched" in _fetch(desk)
    account.append(simple_mail("later"))
    _fetch(desk)
    assert _subjects(desk) == ["later", "this year"]
    assert len(account.uids()) == 1  # last year's mail is still there


def test_progress_bar_on_a_terminal_only(account: Account,
                                         mailbox_desk: Callable[..., Desk]) -> None:
    account.append(*(simple_mail(f"bulk {i}") for i in range(5)))
    desk = mailbox_desk((account, {"extra": "batch: 2\n"}))
    main, sub = os.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "maildesk", "--config", str(desk.config_path), "fetch",
             "--once"], stdout=subprocess.PIPE, stderr=sub, timeout=120, cwd=desk.root)
        os.close(sub)
        screen = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            screen += chunk
    finally:
        os.close(main)
    assert proc.returncode == 0
    assert b"5 mails fetched" in proc.stdout
    assert b"support: 100%" in screen and b"5/5" in screen, screen
    account.append(simple_mail("no terminal"))
    result = desk.cli("fetch", "--once")  # stderr is a pipe here: no bar
    assert b"1 mails fetched" in result.stdout and b"%|" not in result.stderr
