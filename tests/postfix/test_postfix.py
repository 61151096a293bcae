"""maildesk behind a real Postfix, configured as docs/mta.md says.

Mail goes in through Postfix's smtpd with smtplib and reaches maildesk over LMTP, over SMTP
and through a pipe to `maildesk deliver`; maildesk's auto-responses go out through the same
Postfix to a sink. When maildesk cannot take a mail (the daemon down, `deliver` exiting
75), Postfix keeps it deferred, and `postqueue -f` after the fix delivers it exactly once.
"""

from __future__ import annotations

import json
import smtplib
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import REPO
from tests.postfix.conftest import (
    AGENT,
    CUSTOMER,
    LMTP_ADDRESS,
    PIPE_ADDRESS,
    SMTP_ADDRESS,
    Stack,
    unavailable,
)
from tests.postfix.postfix_helpers import (
    HOSTNAME,
    MAIN_CF,
    MAIN_CF_PIPE,
    MASTER_CF_PIPE,
    TRANSPORT,
    wait_for,
)
from tests.smtp.smtp_helpers import mail


def message_id() -> str:
    return f"{uuid.uuid4().hex}@customer.example"


def tickets_by_message_id(tickets: list[dict[str, Any]],
                          show: Callable[[str], dict[str, Any]]) -> dict[str, list[str]]:
    """Message-ID -> the numbers of the tickets holding an article with it."""
    found: dict[str, list[str]] = {}
    for ticket in tickets:
        for article in show(str(ticket["number"]))["articles"]:
            mid = str(article["message_id"] or "").strip("<>")
            found.setdefault(mid, []).append(str(ticket["number"]))
    return found


@pytest.mark.postfix
def test_lmtp_and_smtp_through_postfix_and_auto_responses_back(stack: Stack) -> None:
    sent = {LMTP_ADDRESS: message_id(), SMTP_ADDRESS: message_id()}
    for address, mid in sent.items():
        stack.submit(mail(mid, subject=f"Help via {address}", to=address), address)

    # Postfix itself refuses an address maildesk does not have, at RCPT: no bounce later.
    with smtplib.SMTP("127.0.0.1", stack.postfix.port, timeout=15) as smtp:
        smtp.ehlo()
        smtp.mail(CUSTOMER)
        code, text = smtp.rcpt("nobody@lmtp.example.com")
        assert code == 550, text

    stack.postfix.wait_empty()
    for address in sent:  # each went by its own route, and maildesk said 250
        wait_for(lambda a=address: bool(stack.postfix.delivered(a)), 10,
                 f"log line of the delivery to {address}", stack.postfix.log)
    lmtp_line = stack.postfix.delivered(LMTP_ADDRESS)[0]
    smtp_line = stack.postfix.delivered(SMTP_ADDRESS)[0]
    assert "postfix/lmtp[" in lmtp_line and "Ok: ticket" in lmtp_line, lmtp_line
    assert "postfix/smtp[" in smtp_line and "Ok: ticket" in smtp_line, smtp_line

    tickets = stack.desk.tickets()
    assert sorted(t["queue"] for t in tickets) == ["Sales", "Support"]
    by_mid = tickets_by_message_id(tickets, stack.desk.show)
    for mid in sent.values():
        assert len(by_mid.get(mid, [])) == 1, by_mid

    # The auto-responses (and agent notifications) went out through the same Postfix.
    wait_for(lambda: len(stack.sink.to(CUSTOMER)) >= 2, 30, "auto-responses at the sink",
             lambda: f"{stack.daemon.log()}\n{stack.postfix.log()}")
    numbers = {str(t["number"]) for t in tickets}
    for received in stack.sink.to(CUSTOMER):
        message = received.message
        assert received.mail_from.startswith("bounces+"), received.mail_from  # VERP kept
        assert received.mail_from.endswith("@lmtp.example.com"), received.mail_from
        assert message["Auto-Submitted"] == "auto-replied"
        assert any(f"[Ticket#{n}]" in str(message["Subject"]) for n in numbers)
        assert any(HOSTNAME in str(r) for r in message.get_all("Received", []))
    wait_for(lambda: bool(stack.sink.to(AGENT)), 30, "agent notification at the sink")
    wait_for(lambda: all(r["state"] == "sent" for r in outbox(stack)), 30,
             "maildesk's outbox all sent", lambda: str(outbox(stack)))
    stack.postfix.wait_empty()
    assert not [r for r in stack.sink.received if r.mail_from == ""], "Postfix bounced"


def deferrals(stack: Stack, recipient: str) -> list[str]:
    return [line for line in stack.postfix.log().splitlines()
            if f"to=<{recipient}>" in line and "status=deferred" in line]


def outbox(stack: Stack) -> list[dict[str, Any]]:
    result = stack.desk.cli("outbox", "--json")
    assert result.returncode == 0, result.stderr.decode()
    return list(json.loads(result.stdout))


@pytest.mark.postfix
def test_maildesk_down_mail_waits_deferred_then_flush_delivers_once(stack: Stack) -> None:
    stack.daemon.stop()
    sent = {LMTP_ADDRESS: message_id(), SMTP_ADDRESS: message_id()}
    for address, mid in sent.items():
        stack.submit(mail(mid, subject="Sent while maildesk is down", to=address), address)

    wait_for(lambda: set(stack.postfix.deferred()) == set(sent), 30,
             "both mails deferred", lambda: f"{stack.postfix.queue()}\n{stack.postfix.log()}")
    reasons = stack.postfix.deferred()
    assert all("refused" in reason.lower() for reason in reasons.values()), reasons
    assert stack.desk.tickets() == []

    stack.daemon.start()
    stack.postfix.flush()
    stack.postfix.wait_empty()

    tickets = stack.desk.tickets()
    by_mid = tickets_by_message_id(tickets, stack.desk.show)
    assert len(tickets) == 2
    for mid in sent.values():
        assert len(by_mid.get(mid, [])) == 1, by_mid
    assert all(n == 1 for n in stack.daemon.articles().values()), stack.daemon.articles()
    wait_for(lambda: len(stack.sink.to(CUSTOMER)) == 2, 30, "auto-responses at the sink",
             stack.postfix.log)


@pytest.mark.postfix
def test_pipe_transport_stores_and_defers_on_exit_75(stack: Stack) -> None:
    if stack.pipe_unavailable:
        unavailable(stack.pipe_unavailable)
    first = message_id()
    stack.submit(mail(first, subject="By pipe", to=PIPE_ADDRESS), PIPE_ADDRESS)
    stack.postfix.wait_empty()
    wait_for(lambda: bool(stack.postfix.delivered(PIPE_ADDRESS)), 10,
             "log line of the delivery through the pipe", stack.postfix.log)
    assert "relay=maildesk" in stack.postfix.delivered(PIPE_ADDRESS)[0]
    assert len(stack.pipe_tickets()) == 1

    # The database becomes unusable for the pipe's user (its folder closed to it, as after
    # a careless restore): `deliver` exits 75 and Postfix keeps the mail. (Moving the
    # folder away would not do: maildesk creates a missing SQLite folder and database.)
    folder = stack.pipe_db.parent
    folder.chmod(0)
    second = message_id()
    raw = mail(second, subject="By pipe, database away", to=PIPE_ADDRESS)
    stack.submit(raw, PIPE_ADDRESS)
    wait_for(lambda: PIPE_ADDRESS in stack.postfix.deferred(), 30, "mail deferred",
             lambda: f"{stack.postfix.queue()}\n{stack.postfix.log()}")
    reason = stack.postfix.deferred()[PIPE_ADDRESS]
    assert "temporary failure" in reason, reason  # how pipe(8) words EX_TEMPFAIL (75)
    wait_for(lambda: bool(deferrals(stack, PIPE_ADDRESS)), 10, "log line of the deferral",
             stack.postfix.log)
    assert "dsn=4.3.0" in deferrals(stack, PIPE_ADDRESS)[0], stack.postfix.log()
    direct = stack.pipe_cli("deliver", "--sender", CUSTOMER, "--recipient", PIPE_ADDRESS,
                            input=raw)  # the same command by hand: 75 indeed
    assert direct.returncode == 75, direct.stderr.decode()

    folder.chmod(0o755)
    stack.postfix.flush()
    stack.postfix.wait_empty()
    tickets = stack.pipe_tickets()
    by_mid = tickets_by_message_id(tickets, stack.pipe_show)
    assert len(tickets) == 2, tickets
    assert len(by_mid.get(first, [])) == 1 and len(by_mid.get(second, [])) == 1, by_mid


def test_docs_match_the_tested_configuration() -> None:
    """Every maildesk line the test gives Postfix is in docs/mta.md, with the docs' values
    (runs without Postfix: it only reads the templates and the page)."""
    doc = {" ".join(line.split()) for line in (REPO / "docs" / "mta.md").read_text()
           .splitlines()}
    expected = (MAIN_CF.format(domains="example.com", etc="/etc/postfix") + MAIN_CF_PIPE
                + MASTER_CF_PIPE.format(user="maildesk", maildesk="/usr/local/bin/maildesk",
                                        config="/etc/maildesk/maildesk.yaml")
                + "\n".join(TRANSPORT[kind].format(domain="example.com", port=port)
                            for kind, port in (("lmtp", 2424), ("smtp", 2525), ("pipe", 0))))
    missing = [line for line in expected.splitlines()
               if line.strip() and " ".join(line.split()) not in doc]
    assert not missing, f"docs/mta.md lacks what the test configures: {missing}"
