"""The promises that matter most: a SIGKILL between the commit and the server's expunge
makes no second ticket, and a changed UIDVALIDITY refetches nothing twice."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.conftest import Desk, simple_mail
from tests.mailboxes.conftest import Account

pytestmark = pytest.mark.dovecot

# `maildesk fetch --once`, killed with SIGKILL at the named point: the real process, the
# real signal, at the exact moment (no hook of this kind exists in maildesk itself).
KILLER = """\
import os, signal, sys
from maildesk.mailboxes import imap, state
target = {"finish": (imap.ImapSession, "finish"), "advance": (state.MailboxStore, "advance")}
cls, name = target[sys.argv[1]]
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
setattr(cls, name, die)
from maildesk.cli import main
sys.exit(main(["--config", sys.argv[2], "fetch", "--once"]))
"""


@pytest.mark.parametrize("point", ["finish", "advance"])
@pytest.mark.parametrize("after", ["delete", "move:Done"])
def test_sigkill_between_commit_and_expunge_makes_no_second_ticket(
        account: Account, mailbox_desk: Callable[..., Desk], point: str, after: str) -> None:
    """`finish`: the position is stored, the expunge never ran; `advance`: the ticket is
    committed, the position is not. Either way the next pass makes no second ticket."""
    account.append(simple_mail("crash one"), simple_mail("crash two"))
    desk = mailbox_desk((account, {"after": after}))
    killed = subprocess.run([sys.executable, "-c", KILLER, point, str(desk.config_path)],
                            capture_output=True, timeout=120, cwd=desk.root)
    assert killed.returncode == -9, killed.stderr.decode()
    assert len(desk.tickets()) == 2  # committed before the kill
    assert len(account.uids()) == 2  # still on the server
    result = desk.cli("fetch", "--once")
    assert result.returncode == 0, result.stderr.decode()
    tickets = desk.tickets()
    assert sorted(t["title"] for t in tickets) == ["crash one", "crash two"]
    for ticket in tickets:
        assert len(desk.show(ticket["number"])["articles"]) == 1
    assert account.uids() == []
    if after.startswith("move"):
        assert len(account.uids("Done")) == 2


def test_uidvalidity_change_refetches_nothing_twice(
        account: Account, mailbox_desk: Callable[..., Desk]) -> None:
    account.append(simple_mail("old one"), simple_mail("old two"))
    desk = mailbox_desk((account, {"after": "seen"}))
    assert desk.cli("fetch", "--once").returncode == 0
    before = json.loads(desk.cli("fetch", "--status", "--json").stdout)[0]
    assert before["fetched"] == 2
    account.server.doveadm("mailbox", "update", "-u", account.user, "--uid-validity",
                           str(before["uidvalidity"] + 1000), "INBOX")
    account.append(simple_mail("after the change"))
    result = desk.cli("fetch", "--once")
    assert result.returncode == 0, result.stderr.decode()
    assert "UIDVALIDITY changed" in result.stderr.decode()
    assert sorted(t["title"] for t in desk.tickets()) == ["after the change", "old one",
                                                          "old two"]
    after = json.loads(desk.cli("fetch", "--status", "--json").stdout)[0]
    assert after["uidvalidity"] == before["uidvalidity"] + 1000
    assert after["fetched"] == 3  # the two known mails were recognised, not downloaded
    assert desk.cli("fetch", "--once").stdout.decode().strip().endswith("0 mails fetched")
