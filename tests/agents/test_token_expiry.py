"""Reply tokens expire (issue 13): a token carries the day it was made, and one older than
`instance.reply_token_max_age` (90 days by default) no longer proves its agent. The mail is
kept as an unverified note, nothing applies, and the agent is told why and what to do."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import time_machine

from maildesk.tokens import _day_text, expiry_problem, make_token, verify_token
from tests.agents.conftest import events, new_ticket, notification, outbox, reply, send
from tests.conftest import Desk

COMMAND = "/priority high\n"


def _later(days: float) -> time_machine.travel:
    return time_machine.travel(datetime.now(UTC) + timedelta(days=days), tick=False)


def _priority(desk: Desk, number: str) -> int:
    return int(desk.show(number)["priority"])


def test_a_token_older_than_90_days_is_refused_with_a_clear_reply(adesk: Desk) -> None:
    number = new_ticket(adesk)
    note = notification(adesk, number)
    with _later(91):
        send(adesk, reply(note, COMMAND), note)
    shown = adesk.show(number)
    assert shown["priority"] == 3  # nothing applied
    reason = events(shown, "command refused")[-1]["details"]["reason"]
    assert "the reply token expired" in reason and "older than 90 days" in reason
    (notice,) = outbox(adesk, "result")
    assert notice["To"] == "alice@example.com"
    assert str(notice["Subject"]).startswith("Refused: ")
    text = " ".join(notice.get_content().split())
    assert "the reply token expired" in text and "answer from a newer notification" in text


def test_a_token_within_its_age_still_acts(adesk: Desk) -> None:
    number = new_ticket(adesk)
    note = notification(adesk, number)
    with _later(89):
        send(adesk, reply(note, COMMAND), note)
    assert _priority(adesk, number) == 4


def test_the_age_is_configurable(adesk: Desk) -> None:
    text = adesk.config_path.read_text().replace(
        "  name: Example Support\n", "  name: Example Support\n  reply_token_max_age: 10d\n", 1)
    adesk.config_path.write_text(text)
    number = new_ticket(adesk)
    note = notification(adesk, number)
    with _later(11):
        send(adesk, reply(note, COMMAND), note)
    assert _priority(adesk, number) == 3
    reason = events(adesk.show(number), "command refused")[-1]["details"]["reason"]
    assert "older than 10 days" in reason


def _undated(secret: bytes, ticket_id: int, agent: str) -> str:
    """A token as maildesk made them before they carried a day."""
    digest = hmac.new(secret, f"{ticket_id}:{agent}".encode(), hashlib.sha256).digest()
    mac = base64.b32encode(digest[:10]).decode().lower()
    return f"t{ticket_id}a{hashlib.sha256(agent.encode()).hexdigest()[:8]}{mac}"


def test_the_day_cannot_be_changed_and_undated_tokens_have_no_age() -> None:
    secret = b"k" * 32
    made = datetime(2026, 1, 10, tzinfo=UTC)
    token = make_token(secret, 7, "alice@example.com", now=made)
    ref = verify_token(secret, token, ["alice@example.com"])
    assert ref is not None and ref.issued == made.date()
    day = (made.date() - datetime(1970, 1, 1).date()).days
    head = len("t7a") + 8  # then 4 characters of day, 13 of MAC
    assert token[head:head + 4] == _day_text(day)
    younger = token[:head] + _day_text(day + 80) + token[head + 4:]
    assert verify_token(secret, younger, ["alice@example.com"]) is None
    assert expiry_problem(ref, 90 * 86400.0, made + timedelta(days=90)) is None
    assert "expired" in (expiry_problem(ref, 90 * 86400.0, made + timedelta(days=91)) or "")
    # one character longer than before: a Message-ID with a token in front still fits one
    # header line where it did (a folded one broke a reader of the timers' mails)
    assert len(token) == len(_undated(secret, 7, "alice@example.com")) + 1
    old = verify_token(secret, _undated(secret, 7, "alice@example.com"), ["alice@example.com"])
    assert old is not None and old.issued is None
    assert "carries no date" in (expiry_problem(old, 90 * 86400.0) or "")
