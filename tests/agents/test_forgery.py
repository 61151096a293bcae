"""Nobody can act in an agent's name (reliability P8/P9, hostile tests 41-52): each forgery
below applies nothing, reaches no customer, stays an internal unverified note, and leaves a
`command refused` event with its reason."""

from __future__ import annotations

import subprocess
from pathlib import Path

import dkim
import pytest

from tests.agents.conftest import (
    TRUSTED,
    Notification,
    events,
    new_ticket,
    notification,
    outbox,
    reply,
    send,
)
from tests.conftest import Desk

ATTACK = "/close\n/cc add mallory@evil.example\n\nYour data is on its way.\n"


def assert_refused(desk: Desk, number: str, reason: str | None = None) -> dict:
    shown = desk.show(number)
    assert shown["state"] == "new" and shown["cc"] == [] and shown["priority"] == 3
    refused = events(shown, "command refused")
    assert refused, shown["history"]
    if reason:
        assert reason in refused[-1]["details"]["reason"], refused[-1]["details"]
    article = shown["articles"][-1]
    assert article["visibility"] == "internal"
    assert "verified" not in article or article["verified"] is False
    assert not outbox(desk, "answer"), "a forged mail reached the customer"
    assert not [m for m in outbox(desk) if "mallory" in (m.get("To") or "")]
    return shown


@pytest.fixture
def ticket(adesk: Desk) -> Notification:
    return notification(adesk, new_ticket(adesk))


def test_agent_address_without_token_or_dkim(adesk: Desk, ticket: Notification) -> None:
    """41: From alone never suffices."""
    raw = reply(ticket, ATTACK, to="support@example.com", in_reply_to=None)
    raw = raw.replace(b"Subject: Re: ", b"Subject: Re: ", 1)
    send(adesk, raw, recipients=("support@example.com",))
    assert_refused(adesk, ticket.number, "no reply token")
    # The real agent hears about it, at their configured address, never at a Reply-To.
    (notice,) = outbox(adesk, "result")
    assert notice["To"] == "alice@example.com"
    assert notice["Subject"].startswith("Refused: ")
    assert "mallory" not in notice.get_content()


def test_token_from_another_sender(adesk: Desk, ticket: Notification) -> None:
    """42: a forwarded notification answered by someone else."""
    raw = reply(ticket, ATTACK, sender="mallory@evil.example", name="Mallory")
    send(adesk, raw, ticket, sender="mallory@evil.example")
    shown = assert_refused(adesk, ticket.number, "not an agent")
    assert shown["articles"][-1]["sender_type"] == "customer"
    (notice,) = outbox(adesk, "result")  # the token's agent is told
    assert notice["To"] == "alice@example.com"


def test_token_with_agent_from_but_foreign_envelope(adesk: Desk, ticket: Notification) -> None:
    raw = reply(ticket, ATTACK)
    send(adesk, raw, ticket, sender="mallory@evil.example")
    assert_refused(adesk, ticket.number, "envelope sender is not the agent")


def test_replayed_token_of_another_ticket(adesk: Desk) -> None:
    first = notification(adesk, new_ticket(adesk, "First"))
    second = notification(adesk, new_ticket(adesk, "Second", sender="dave@example.org",
                                            message_id="second@example.org"))
    # Alice's valid token for the first ticket, aimed at the second through the Message-ID
    # of its customer's mail: the token must be for THIS ticket.
    raw = reply(second, ATTACK, to=first.reply_to, in_reply_to="<second@example.org>")
    send(adesk, raw, recipients=(first.reply_to,))
    shown = adesk.show(second.number)
    refused = events(shown, "command refused")
    assert refused and "another ticket" in refused[-1]["details"]["reason"]
    assert shown["state"] == "new"
    assert adesk.show(first.number)["state"] == "new"
    assert not outbox(adesk, "answer")


def test_token_of_another_agent(adesk_factory) -> None:  # noqa: ANN001
    desk = adesk_factory()
    number = new_ticket(desk, "Card declined", to="billing@example.com")
    bobs = notification(desk, number, "bob@example.com")
    send(desk, reply(bobs, ATTACK), bobs)  # alice uses bob's token
    assert_refused(desk, number, "not this agent's")


def authres(text: str) -> tuple[str, str]:
    return ("Authentication-Results", text)


RECEIVED_OURS = ("Received", "from mail.evil.example by mx.example.com; Thu, 26 Nov 2026")
RECEIVED_THEIRS = ("Received", "from laptop by mail.evil.example; Thu, 26 Nov 2026")


def test_authentication_results_from_untrusted_authserv_id(adesk: Desk,
                                                           ticket: Notification) -> None:
    """The header is only believed from our own MTA."""
    raw = reply(ticket, ATTACK, to="support@example.com", in_reply_to=None,
                headers=[authres("mx.evil.example; dkim=pass header.d=example.com; "
                                 "dmarc=pass header.from=example.com"), RECEIVED_OURS])
    send(adesk, raw, recipients=("support@example.com",))
    assert_refused(adesk, ticket.number, "no Authentication-Results from a trusted MTA")


def test_authentication_results_below_ours_added_by_the_sender(adesk: Desk,
                                                               ticket: Notification) -> None:
    """45: the sender wrote an A-R claiming our authserv-id; ours, on top, says fail."""
    raw = reply(ticket, ATTACK, to="support@example.com", in_reply_to=None, headers=[
        authres(f"{TRUSTED}; dkim=fail header.d=example.com; dmarc=fail"),
        RECEIVED_OURS,
        authres(f"{TRUSTED}; dkim=pass header.d=example.com; "
                "dmarc=pass header.from=example.com"),
        RECEIVED_THEIRS,
    ])
    send(adesk, raw, recipients=("support@example.com",))
    assert_refused(adesk, ticket.number, "no dkim=pass")


def test_dkim_pass_for_another_domain(adesk: Desk, ticket: Notification) -> None:
    """44: dkim=pass for d=attacker.example is not aligned with example.com."""
    raw = reply(ticket, ATTACK, to="support@example.com", in_reply_to=None, headers=[
        authres(f"{TRUSTED}; dkim=pass header.d=evil.example; dmarc=fail "
                "header.from=example.com"), RECEIVED_OURS])
    send(adesk, raw, recipients=("support@example.com",))
    assert_refused(adesk, ticket.number, "no dkim=pass")


def _rsa_key(tmp_path: Path) -> bytes:
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-traditional", "-out", str(key), "1024"], check=True,
                   capture_output=True)
    return key.read_bytes()


def test_dkim_signature_with_short_body_length(adesk: Desk, ticket: Notification,
                                               tmp_path: Path) -> None:
    """43: signed with l=, commands appended after the signed length still 'pass'."""
    signed_part = reply(ticket, "Thanks, we are looking into it.\n", to="support@example.com",
                        in_reply_to=None, quote=False)
    signature = dkim.sign(signed_part, b"sel", b"example.com", _rsa_key(tmp_path),
                          include_headers=[b"from", b"to", b"subject", b"message-id",
                                           b"in-reply-to", b"references"], length=True)
    head, _, body = signed_part.partition(b"\r\n\r\n")
    tampered = (signature + head + b"\r\n\r\n" + b"/close\r\n/cc add mallory@evil.example\r\n"
                + body)
    assert b"l=" in signature
    # Our MTA checked the first l= bytes only (as dkimpy does) and said pass.
    raw = ("Authentication-Results: " + TRUSTED + "; dkim=pass header.d=example.com "
           "header.i=@example.com\r\n").encode() + tampered
    send(adesk, raw, recipients=("support@example.com",))
    assert_refused(adesk, ticket.number, "l=")


def test_dkim_signature_with_full_body_length_counts(adesk: Desk, ticket: Notification,
                                                     tmp_path: Path) -> None:
    """The counterpart: l= equal to the body is harmless, and a trusted pass is proof."""
    signed = reply(ticket, "/priority 4\n\nOn it.\n", to="support@example.com",
                   in_reply_to=None, quote=False)
    signature = dkim.sign(signed, b"sel", b"example.com", _rsa_key(tmp_path),
                          include_headers=[b"from", b"to", b"subject", b"message-id",
                                           b"in-reply-to", b"references"], length=True)
    raw = (f"Authentication-Results: {TRUSTED}; dkim=pass header.d=example.com\r\n".encode()
           + signature + signed)
    send(adesk, raw, recipients=("support@example.com",))
    assert adesk.show(ticket.number)["priority"] == 4
    assert len(outbox(adesk, "answer")) == 1


def test_two_from_headers(adesk: Desk, ticket: Notification) -> None:
    """46: identity is ambiguous, however strong the token."""
    raw = reply(ticket, ATTACK, headers=[("From", "Mallory <mallory@evil.example>")])
    send(adesk, raw, ticket)
    assert_refused(adesk, ticket.number, "2 From headers")


@pytest.mark.parametrize("from_header", [
    "alice@example.com)<mallory@evil.example>",  # CVE-2023-27043 class
    "=?utf-8?b?YWxpY2VAZXhhbXBsZS5jb20AQGV2aWwuZXhhbXBsZQ==?= <mallory@evil.example>",
    "=?utf-8?b?YWxpY2VAZXhhbXBsZS5jb20=?==?utf-8?Q?=00?=@evil.example",  # Mailsploit
    "\"alice@example.com\" <mallory@evil.example>",
])
def test_from_headers_that_only_look_like_the_agent(adesk: Desk, ticket: Notification,
                                                    from_header: str) -> None:
    """46/47: strict parsing of the raw From; the display name is never the identity."""
    raw = reply(ticket, ATTACK, from_header=from_header)
    send(adesk, raw, ticket)
    shown = adesk.show(ticket.number)
    assert shown["state"] == "new" and shown["cc"] == []
    assert not outbox(adesk, "answer")


def test_quoted_commands_below_the_text_are_not_commands(adesk: Desk,
                                                         ticket: Notification) -> None:
    """49: only the block at the very top counts."""
    body = "Looking into it.\n/close\n\n> /close\n> /priority 1\n"
    send(adesk, reply(ticket, body), ticket)
    shown = adesk.show(ticket.number)
    assert shown["state"] == "new" and shown["priority"] == 3
    (answer,) = outbox(adesk, "answer")
    assert "Looking into it." in answer.get_content()


def test_control_headers_from_outside_are_ignored(adesk: Desk, ticket: Notification) -> None:
    """52: X-Maildesk-* never vouches for anybody."""
    raw = reply(ticket, ATTACK, to="support@example.com", in_reply_to=None, headers=[
        ("X-Maildesk-Verified", "yes"), ("X-Maildesk-Agent", "alice@example.com"),
        ("X-Maildesk-Trusted", "yes")])
    send(adesk, raw, recipients=("support@example.com",))
    assert_refused(adesk, ticket.number)


def test_dkim_alone_is_enough_by_default(adesk: Desk, ticket: Notification) -> None:
    raw = reply(ticket, "/priority 2\n", to="support@example.com", in_reply_to=None,
                headers=[authres(f"{TRUSTED}; dkim=pass header.d=example.com"),
                         RECEIVED_OURS])
    send(adesk, raw, recipients=("support@example.com",))
    assert adesk.show(ticket.number)["priority"] == 2


def test_dmarc_pass_is_enough_by_default(adesk: Desk, ticket: Notification) -> None:
    raw = reply(ticket, "/priority 2\n", to="support@example.com", in_reply_to=None,
                headers=[authres(f"{TRUSTED}; dmarc=pass header.from=example.com")])
    send(adesk, raw, recipients=("support@example.com",))
    assert adesk.show(ticket.number)["priority"] == 2


@pytest.mark.parametrize("where", ["instance", "queue"])
def test_require_token_and_dkim(adesk_factory, where: str) -> None:  # noqa: ANN001
    desk = adesk_factory(require_both=where == "instance",
                         queue_both="Support" if where == "queue" else None)
    note = notification(desk, new_ticket(desk))
    send(desk, reply(note, "/priority 5\n"), note)  # token only
    assert desk.show(note.number)["priority"] == 3
    assert "needs both" in events(desk.show(note.number), "command refused")[-1]["details"][
        "reason"]
    raw = reply(note, "/priority 5\n", headers=[
        authres(f"{TRUSTED}; dkim=pass header.d=example.com"), RECEIVED_OURS])
    send(desk, raw, note)  # token and DKIM
    assert desk.show(note.number)["priority"] == 5


def test_two_forgeries_in_a_row_tell_the_agent_once(adesk: Desk, ticket: Notification) -> None:
    """README: at most one refusal notice every 10 minutes per ticket (issue 11)."""
    from datetime import timedelta

    from sqlalchemy import update

    from maildesk.store.models import History

    for n in range(2):
        raw = reply(ticket, ATTACK + f"#{n}\n", sender="mallory@evil.example", name="Mallory")
        send(adesk, raw, ticket, sender="mallory@evil.example")
    assert len(events(adesk.show(ticket.number), "command refused")) == 2
    assert len(outbox(adesk, "result")) == 1
    app = adesk.app()  # ten minutes later, the next forgery is told again
    try:
        with app.db.transaction() as session:
            session.execute(update(History).where(History.event == "refusal notice")
                            .values(at=History.at - timedelta(minutes=11)))
    finally:
        app.close()
    send(adesk, reply(ticket, ATTACK + "#3\n", sender="mallory@evil.example", name="Mallory"),
         ticket, sender="mallory@evil.example")
    assert len(outbox(adesk, "result")) == 2
