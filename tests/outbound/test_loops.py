"""SPEC 8's loop rules, one case each, through the real pipeline and a real sink: the mail
is stored, the agents hear of it, and the sender of it gets no auto-response."""

from __future__ import annotations

import pytest

from tests.conftest import Desk, simple_mail
from tests.outbound.conftest import Sink, send

CASES: list[tuple[str, dict[str, str], str]] = [
    # (id, extra headers, envelope sender); "carol@example.org" is an ordinary sender
    ("null sender", {}, ""),
    ("auto-submitted auto-generated", {"Auto-Submitted": "auto-generated"}, "carol@example.org"),
    ("auto-submitted auto-replied", {"Auto-Submitted": "auto-replied"}, "carol@example.org"),
    ("auto-submitted with comment", {"Auto-Submitted": "auto-notified; owner-email=x@y"},
     "carol@example.org"),
    ("precedence bulk", {"Precedence": "bulk"}, "carol@example.org"),
    ("precedence junk", {"Precedence": "junk"}, "carol@example.org"),
    ("precedence list", {"Precedence": "list"}, "carol@example.org"),
    ("list-id", {"List-Id": "Users <users.lists.example.org>"}, "carol@example.org"),
    ("list-unsubscribe", {"List-Unsubscribe": "<mailto:leave@example.org>"}, "carol@example.org"),
    ("x-auto-response-suppress all", {"X-Auto-Response-Suppress": "All"}, "carol@example.org"),
    ("x-auto-response-suppress oof", {"X-Auto-Response-Suppress": "DR, OOF"},
     "carol@example.org"),
    ("x-autoreply", {"X-Autoreply": "yes"}, "carol@example.org"),
    ("our x-loop", {"X-Loop": "example.com"}, "carol@example.org"),
    ("our message-id", {"Message-ID": "<md-65f0a1b2c3d4e5f60718293a@example.com>"},
     "carol@example.org"),
]
SENDERS = [
    ("mailer-daemon", "MAILER-DAEMON@mx.example.org"),
    ("postmaster", "postmaster@example.org"),
    ("no-reply", "no-reply@shop.example.org"),
    ("noreply", "noreply@shop.example.org"),
    ("list owner", "owner-users@lists.example.org"),
    ("list request", "users-request@lists.example.org"),
    ("our own queue", "billing@example.com"),
    ("our own sub-address", "sales+x@example.com"),
    ("our bounce address", "bounces@example.com"),
]


def _mail(headers: dict[str, str], sender: str = "carol@example.org") -> bytes:
    mid = headers.pop("Message-ID", None)
    raw = simple_mail(sender=sender, headers=headers)
    if mid:
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"message-id:")]
        raw = b"\r\n".join([*lines, b"Message-ID: " + mid.encode()]) + b"\r\n\r\n" + body
    return raw


def _assert_no_autoresponse(desk: Desk, sink: Sink, number: str, to: str) -> None:
    send(desk)
    assert sink.to(to) == [], "an auto-response went out"
    assert len(sink.to("alice@example.com")) == 1  # the agents still hear of the ticket
    events = {h["event"]: h["details"] for h in desk.show(number)["history"]}
    assert "auto-response sent" not in events
    # machine mail (an auto-reply) is not even considered; everything else says why not
    if "auto-response suppressed" in events:
        assert events["auto-response suppressed"]["reasons"]


@pytest.mark.parametrize(("headers", "envelope_sender"), [(h, s) for _, h, s in CASES],
                         ids=[c[0] for c in CASES])
def test_no_autoresponse_to(odesk: Desk, sink: Sink, headers: dict[str, str],
                            envelope_sender: str) -> None:
    outcome = odesk.ingest(_mail(dict(headers)), sender=envelope_sender)
    assert outcome.code == 250 and outcome.ticket, outcome.reply  # always stored
    _assert_no_autoresponse(odesk, sink, outcome.ticket, "carol@example.org")


@pytest.mark.parametrize("address", [a for _, a in SENDERS], ids=[i for i, _ in SENDERS])
def test_no_autoresponse_to_system_senders(odesk: Desk, sink: Sink, address: str) -> None:
    outcome = odesk.ingest(_mail({}, sender=address), sender=address)
    assert outcome.code == 250 and outcome.ticket, outcome.reply
    _assert_no_autoresponse(odesk, sink, outcome.ticket, address.lower())


def test_auto_submitted_no_is_answered(odesk: Desk, sink: Sink) -> None:
    odesk.ingest(_mail({"Auto-Submitted": "no"}))
    send(odesk)
    assert len(sink.to("carol@example.org")) == 1


def test_daily_cap_per_sender_still_stores_every_mail(odesk_factory, sink: Sink) -> None:  # noqa: ANN001
    desk = odesk_factory(sink.port, instance="  autoresponse_daily_cap: 3\n")
    numbers = [desk.ingest(simple_mail(subject=f"mail {i}")).ticket for i in range(5)]
    assert len(set(numbers)) == 5 and all(numbers)  # five tickets, all stored
    desk.ingest(simple_mail(sender="dave@example.net"), sender="dave@example.net")
    send(desk)
    assert len(sink.to("carol@example.org")) == 3
    assert len(sink.to("dave@example.net")) == 1  # the cap is per sender
    capped = [h for h in desk.show(numbers[4])["history"] if h["event"] ==
              "auto-response suppressed"]
    assert "daily cap of 3" in capped[0]["details"]["reasons"][0]


def test_ping_pong_with_a_robot_that_ignores_every_header(odesk_factory, sink: Sink) -> None:  # noqa: ANN001
    """A peer autoresponder answers each of our mails with a fresh-looking mail. The loop
    ends at the daily cap; every mail the robot sent is stored."""
    desk = odesk_factory(sink.port, instance="  autoresponse_daily_cap: 4\n")
    robot = "robot@peer.example.net"
    desk.ingest(simple_mail(sender=robot, subject="hello"), sender=robot)
    for i in range(12):
        send(desk)
        answered = len(sink.to(robot))
        if answered <= i:
            break
        desk.ingest(simple_mail(sender=robot, subject=f"Thanks for your note {i}"),
                    sender=robot)
    send(desk)
    assert len(sink.to(robot)) == 4
