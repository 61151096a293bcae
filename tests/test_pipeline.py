"""The pipeline end to end through `App.ingest` and the real CLI: threading (SPEC 4),
routing outcomes, closed-ticket policies, deduplication, spooling."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select, update

from maildesk.intake.message import Envelope
from maildesk.store.models import Article, Ticket, utcnow
from tests.conftest import FIXTURES, Desk, simple_mail


def _number(outcome) -> str:  # noqa: ANN001
    assert outcome.code == 250, outcome.reply
    assert outcome.ticket
    return outcome.ticket


def test_new_mail_makes_a_ticket_with_history(desk: Desk) -> None:
    number = _number(desk.ingest(simple_mail()))
    data = desk.show(number)
    assert data["queue"] == "Support"
    assert data["state"] == "new"
    assert data["priority"] == 3
    assert data["customer"] == "carol@example.org"
    assert data["title"] == "Printer on fire"
    assert [h["event"] for h in data["history"]][:2] == ["created", "article added"]
    assert data["articles"][0]["sender_type"] == "customer"
    assert "printer is on fire" in data["articles"][0]["body"]


def test_ticket_number_format(desk: Desk) -> None:
    number = _number(desk.ingest(simple_mail()))
    today = utcnow().strftime("%Y%m%d")
    assert number.startswith(today + "10")
    assert len(number) == 16
    second = _number(desk.ingest(simple_mail()))
    assert int(second) == int(number) + 1


def test_counter_number_format(desk_factory) -> None:  # noqa: ANN001
    desk = desk_factory()
    text = desk.config_path.read_text()
    text = text.replace("system_id: 10", "system_id: 10\n  number_format: counter")
    desk.config_path.write_text(text)
    assert _number(desk.ingest(simple_mail())) == "1"
    assert _number(desk.ingest(simple_mail())) == "2"


def test_reply_threads_by_in_reply_to(desk: Desk) -> None:
    first = simple_mail(message_id="first@example.org")
    number = _number(desk.ingest(first))
    reply = simple_mail(subject="Re: Printer on fire", sender="dave@example.net",
                        headers={"In-Reply-To": "<first@example.org>"})
    # dave is not a participant: an id we only received does not thread a stranger
    other = _number(desk.ingest(reply, sender="dave@example.net"))
    assert other != number
    assert desk.show(other)["linked_to"] == number
    # the customer's own reply threads
    reply2 = simple_mail(subject="Re: Printer on fire",
                         headers={"In-Reply-To": "<first@example.org>"})
    assert _number(desk.ingest(reply2)) == number


def test_reply_threads_by_one_id_or_many_in_their_order(desk: Desk) -> None:
    """The same id in In-Reply-To and References (one statement with `=`), and several
    ids (one IN): In-Reply-To first, then the References from the newest back."""
    first = _number(desk.ingest(simple_mail(message_id="one@example.org")))
    second = _number(desk.ingest(simple_mail(message_id="two@example.org")))
    assert first != second
    both = {"In-Reply-To": "<one@example.org>", "References": "<one@example.org>"}
    assert _number(desk.ingest(simple_mail(subject="Re: a", headers=both))) == first
    refs = {"References": "<one@example.org> <nobody@example.org> <two@example.org>"}
    assert _number(desk.ingest(simple_mail(subject="Re: b", headers=refs))) == second
    mixed = {"In-Reply-To": "<one@example.org>",
             "References": "<two@example.org> <one@example.org> <two@example.org>"}
    assert _number(desk.ingest(simple_mail(subject="Re: c", headers=mixed))) == first
    unknown = {"In-Reply-To": "<nobody@example.org>", "References": "<nobody@example.org>"}
    assert _number(desk.ingest(simple_mail(subject="Re: d", headers=unknown))) not in (
        first, second)


def test_subject_tag_threads_for_participants_in_many_languages(desk: Desk) -> None:
    number = _number(desk.ingest(simple_mail()))
    for prefix in ("Re:", "RE:", "AW:", "Antw:", "RV:", "R:", "SV:", "VS:", "Fwd:", "FW:",
                   "WG:", "TR:", "Enc:", "回复:"):
        subject = f"{prefix} [ticket# {number}] thanks, more info"
        outcome = desk.ingest(simple_mail(subject=subject))
        assert outcome.ticket == number, prefix
    assert len(desk.show(number)["articles"]) == 15


def test_otrs_unbracketed_ticket_forms_thread_for_participants(desk: Desk) -> None:
    """OTRS/OTOBO write and accept `Ticket#: N`, `Ticket#:N` and `Ticket#N` as well
    (OTOBO scripts/test/PostMaster.t): OTRS users' existing mail uses them."""
    number = _number(desk.ingest(simple_mail()))
    for subject in (f"Ticket#: {number} printer", f"Re: Ticket#:{number}",
                    f"AW: Ticket#{number} more", f"Printer Ticket#{number}"):
        assert desk.ingest(simple_mail(subject=subject)).ticket == number, subject
    stranger = simple_mail(subject=f"Ticket#{number}", sender="mallory@example.net")
    other = desk.ingest(stranger, sender="mallory@example.net").ticket
    assert other != number and desk.show(other)["linked_to"] == number
    # a longer or shorter number is not this ticket's
    assert desk.ingest(simple_mail(subject=f"Ticket#{number}9")).ticket != number


def test_stranger_quoting_a_tag_gets_a_linked_new_ticket(desk: Desk) -> None:
    number = _number(desk.ingest(simple_mail()))
    mail = simple_mail(subject=f"Re: [Ticket#{number}] I guessed your number",
                       sender="mallory@example.net")
    other = _number(desk.ingest(mail, sender="mallory@example.net"))
    assert other != number
    assert desk.show(other)["linked_to"] == number
    assert len(desk.show(number)["articles"]) == 1
    assert "linked" in [h["event"] for h in desk.show(number)["history"]]


def test_routing_rules_set_queue_and_priority(desk: Desk) -> None:
    number = _number(desk.ingest(simple_mail(subject="Your Rechnung 42")))
    data = desk.show(number)
    assert (data["queue"], data["priority"]) == ("Billing", 4)
    assert any(h["event"] == "routed" for h in data["history"])


def test_reject_rule_answers_5xx_and_stores_nothing(desk: Desk) -> None:
    outcome = desk.ingest(simple_mail(sender="blocked@example.org"), sender="blocked@example.org")
    assert outcome.code == 550
    assert "We do not accept mail from you." in outcome.text
    assert desk.tickets() == []
    assert desk.deliver(simple_mail(sender="blocked@example.org"),
                        sender="blocked@example.org") == 65


def test_ignore_rule_stores_nothing(desk: Desk) -> None:
    outcome = desk.ingest(simple_mail(sender="x@spam.example.net"), sender="x@spam.example.net")
    assert (outcome.code, outcome.result) == (250, "ignored")
    assert desk.tickets() == []


def test_unknown_recipient_is_refused(desk: Desk) -> None:
    outcome = desk.ingest(simple_mail(), recipients=("nobody@example.com",))
    assert outcome.code == 550 and outcome.text.startswith("5.1.1")
    assert desk.deliver(simple_mail(), recipients=("nobody@example.com",)) == 67


def test_identical_bytes_twice_make_one_article(desk: Desk) -> None:
    raw = simple_mail()
    number = _number(desk.ingest(raw))
    again = desk.ingest(raw)
    assert (again.code, again.result, again.ticket) == (250, "duplicate", number)
    assert desk.deliver(raw) == 0
    assert len(desk.tickets()) == 1
    assert len(desk.show(number)["articles"]) == 1


def _close(desk: Desk, number: str, days_ago: int = 0) -> None:
    app = desk.app()
    with app.db.transaction() as s:
        s.execute(update(Ticket).where(Ticket.number == number).values(
            state="closed successful", closed_at=utcnow() - timedelta(days=days_ago)))
    app.close()


def test_closed_ticket_reopens_within_the_window(desk: Desk) -> None:
    number = _number(desk.ingest(simple_mail()))
    _close(desk, number, days_ago=2)
    assert desk.ingest(simple_mail(subject=f"Re: [Ticket#{number}] again")).ticket == number
    assert desk.show(number)["state"] == "open"


def test_closed_ticket_after_the_window_gets_a_linked_new_ticket(desk: Desk) -> None:
    number = _number(desk.ingest(simple_mail()))
    _close(desk, number, days_ago=400)
    other = _number(desk.ingest(simple_mail(subject=f"Re: [Ticket#{number}] again")))
    assert other != number
    assert desk.show(other)["linked_to"] == number
    assert desk.show(number)["state"] == "closed successful"


def test_closed_policy_new_ticket(desk: Desk) -> None:
    number = _number(desk.ingest(simple_mail(to="billing@example.com"),
                                 recipients=("billing@example.com",)))
    _close(desk, number)
    other = _number(desk.ingest(simple_mail(subject=f"Re: [Ticket#{number}]"),
                                recipients=("billing@example.com",)))
    assert other != number and desk.show(other)["linked_to"] == number


def test_closed_policy_reject_keeps_the_mail_and_the_state(desk: Desk) -> None:
    number = _number(desk.ingest(simple_mail(to="sales@example.com"),
                                 recipients=("sales@example.com",)))
    _close(desk, number)
    assert desk.ingest(simple_mail(subject=f"Re: [Ticket#{number}]"),
                       recipients=("sales@example.com",)).ticket == number
    data = desk.show(number)
    assert data["state"] == "closed successful"
    assert len(data["articles"]) == 2
    assert "closed follow-up refused" in [h["event"] for h in data["history"]]


def test_not_mail_is_refused_with_65(desk: Desk) -> None:
    ole = bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 600
    assert desk.deliver(ole) == 65
    assert desk.tickets() == []


def test_database_away_spools_and_drains_in_order(desk: Desk) -> None:
    app = desk.app()
    db_file = desk.root / "var" / "maildesk.db"
    app.close()
    moved = db_file.with_suffix(".away")
    db_file.rename(moved)
    (desk.root / "var" / "maildesk.db").mkdir()  # sqlite cannot open a folder: outage
    try:
        outcome = desk.ingest(simple_mail(subject="during the outage"))
        assert (outcome.code, outcome.result) == (250, "spooled")
        listing = desk.cli("spool", "list").stdout.decode()
    finally:
        (desk.root / "var" / "maildesk.db").rmdir()
        moved.rename(db_file)
    assert "inbound" in listing
    app = desk.app()
    assert app.drain_inbound() == 1
    app.close()
    assert [t["title"] for t in desk.tickets()] == ["during the outage"]


def test_a_bug_moves_the_mail_to_the_failed_spool_and_retry_brings_it_back(desk: Desk) -> None:
    # A config whose secret file is a folder makes threading fail for a reply: a "bug".
    number = _number(desk.ingest(simple_mail()))
    app = desk.app()
    secret_file = app.config.instance.secret_file
    app.close()
    secret = secret_file.read_bytes()
    secret_file.unlink()
    secret_file.mkdir()
    try:
        outcome = desk.ingest(simple_mail(subject=f"Re: [Ticket#{number}]"))
        assert (outcome.code, outcome.result) == (250, "quarantined")
        assert desk.ingest(simple_mail(subject=f"Re: [Ticket#{number}] 2")).code == 250
        # `deliver` checks the secret before it takes a mail: the MTA keeps it (issue 11)
        assert desk.deliver(simple_mail(subject=f"Re: [Ticket#{number}] 3")) == 75
        assert "failed" in desk.cli("spool", "list").stdout.decode()
    finally:
        secret_file.rmdir()
        secret_file.write_bytes(secret)
    result = desk.cli("spool", "retry")
    assert result.returncode == 0, result.stderr
    assert len(desk.show(number)["articles"]) == 3
    assert "spools empty" in desk.cli("spool", "list").stdout.decode()


def test_raw_bytes_are_kept_exactly(desk: Desk) -> None:
    import hashlib

    raw = simple_mail(body="Ümlaut and \x00 NUL and bare\rCR\n")
    number = _number(desk.ingest(raw))
    article = desk.show(number)["articles"][0]
    assert article["raw_sha256"] == hashlib.sha256(raw).hexdigest()
    app = desk.app()
    with app.db.reading() as s:
        row = s.execute(select(Article)).scalar_one()
        assert app.store.get(s, row.raw_key) == raw
        assert json.loads(row.envelope_json)["sender"] == "carol@example.org"
    app.close()


def test_a_mail_loop_is_refused_by_hop_count(desk: Desk) -> None:
    received = {"Received": "from a.example by b.example; Wed, 25 Nov 2026 10:00:00 +0000"}
    looping = simple_mail(headers=received)
    hops = b"".join(b"Received: from hop%d.example by x.example; Wed, 25 Nov 2026\r\n" % i
                    for i in range(60))
    outcome = desk.ingest(hops + looping)
    assert outcome.code == 554 and outcome.text.startswith("5.4.6")
    assert desk.deliver(hops + looping) == 65
    assert desk.tickets() == []
    assert desk.ingest(looping).code == 250  # one Received header is ordinary mail


def test_every_fixture_mail_is_stored_on_every_backend(desk: Desk) -> None:
    """Hostile headers (NUL, control characters, 8-bit bytes) must not trip PostgreSQL's or
    MariaDB's text columns: a refused INSERT would be an endless 451 (reliability case 64)."""
    app = desk.app()
    try:
        for path in sorted(FIXTURES.glob("*.eml")):
            outcome = app.ingest(path.read_bytes(), _envelope_for(path.name))
            assert outcome.code == 250 and outcome.result in {
                "stored", "duplicate", "unmatched_bounce"}, (path.name, outcome)
        assert len(app.failed) == 0 and len(app.inbound) == 0
    finally:
        app.close()


def _envelope_for(name: str) -> Envelope:
    recipient = "bounces+1@example.com" if "dsn" in name else "support@example.com"
    return Envelope(sender="" if "dsn" in name else "someone@example.org",
                    recipients=(recipient,))
