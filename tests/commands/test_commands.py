"""Every command, its errors, atomicity, permissions and locks, driven as agents drive
them: a reply to the notification with `/` lines on top."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest

from maildesk.commands import split_commands
from tests.agents.conftest import (
    Notification,
    events,
    new_ticket,
    notification,
    outbox,
    reply,
    send,
    simple_mail,
)
from tests.conftest import Desk


def run(desk: Desk, note: Notification, body: str, agent: str = "alice@example.com") -> str:
    """Send the commands; return the transcript text."""
    before = len(outbox(desk, "result", agent))
    send(desk, reply(note, body, sender=agent, name=agent.split("@")[0].title()), note,
         sender=agent)
    results = outbox(desk, "result", agent)
    assert len(results) == before + 1, "no transcript"
    text = results[-1].get_content().replace("\r\n", "\n")
    return str(results[-1]["Subject"]).strip() + "\n" + text


@pytest.fixture
def support(adesk: Desk) -> Notification:
    return notification(adesk, new_ticket(adesk))


@pytest.fixture
def billing(adesk: Desk) -> tuple[Notification, Notification]:
    number = new_ticket(adesk, "Card declined", to="billing@example.com")
    return notification(adesk, number), notification(adesk, number, "bob@example.com")


def test_split_commands_reads_only_the_top_block() -> None:
    lines, rest = split_commands("\n\n/close\n /priority 5\nText\n/lock\n> /merge 1\n")
    assert lines == ["/close", "/priority 5"]
    assert rest == "Text\n/lock\n> /merge 1\n"
    assert split_commands("Hello\n/close\n") == ([], "Hello\n/close\n")


def test_lock_and_unlock(adesk: Desk, support: Notification) -> None:
    out = run(adesk, support, "/lock\n")
    assert out.startswith("Processed: ") and "> /lock\nlocked" in out
    shown = adesk.show(support.number)
    assert shown["locked"] and shown["owner"] == "alice@example.com"
    run(adesk, support, "/unlock\n")
    shown = adesk.show(support.number)
    assert not shown["locked"] and shown["owner"] == "alice@example.com"
    assert events(shown, "lock") and events(shown, "unlock")


def test_move_needs_permission_out_and_in_and_notifies_the_new_queue(
        adesk: Desk, support: Notification) -> None:
    out = run(adesk, support, "/move billing\n")  # case-insensitive queue name
    assert "moved from Support to Billing" in out
    shown = adesk.show(support.number)
    assert shown["queue"] == "Billing"
    assert events(shown, "queue")[-1]["actor"] == "alice@example.com"
    # The new queue's agents are notified of the move (bob reads Billing); not the mover.
    moved = [m for m in outbox(adesk, "notification", "bob@example.com")
             if support.number in m["Subject"]]
    assert moved

    out = run(adesk, support, "/move Nowhere\n")
    assert "Processed (with 1 error)" in out and "no queue named 'Nowhere'" in out


def test_move_into_a_queue_without_permission(adesk: Desk,
                                             billing: tuple[Notification, Notification]) -> None:
    _, bob = billing
    out = run(adesk, bob, "/move Support\n", "bob@example.com")
    assert "Error: you do not have the 'move' permission in queue Support" in out
    assert adesk.show(bob.number)["queue"] == "Billing"


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("very high", 5), ("HIGH", 4),
                                                 ("4 high", 4)])
def test_priority(adesk: Desk, support: Notification, value: str, expected: int) -> None:
    run(adesk, support, f"/priority {value}\n")
    assert adesk.show(support.number)["priority"] == expected


@pytest.mark.parametrize("value", ["0", "6", "urgent", ""])
def test_priority_errors(adesk: Desk, support: Notification, value: str) -> None:
    out = run(adesk, support, f"/priority {value}\n")
    assert "Processed (with 1 error)" in out and "Error:" in out
    assert adesk.show(support.number)["priority"] == 3


def test_close_reopen(adesk: Desk, support: Notification) -> None:
    run(adesk, support, "/close unsuccessful\n")
    assert adesk.show(support.number)["state"] == "closed unsuccessful"
    run(adesk, support, "/reopen\n")
    assert adesk.show(support.number)["state"] == "open"
    out = run(adesk, support, "/close maybe\n")
    assert "Error: /close takes successful or unsuccessful" in out
    assert adesk.show(support.number)["state"] == "open"


def test_pending(adesk: Desk, support: Notification) -> None:
    until = (date.today() + timedelta(days=7)).isoformat()
    run(adesk, support, f"/pending {until} auto-close\n")
    shown = adesk.show(support.number)
    assert shown["state"] == "pending auto-close"
    run(adesk, support, f"/pending {until}\n")
    assert adesk.show(support.number)["state"] == "pending reminder"
    for bad, why in [("2020-01-01", "not in the future"), ("tomorrow", "not a date"),
                     (f"{until} soon", "reminder or auto-close"), ("", "needs a date")]:
        out = run(adesk, support, f"/pending {bad}\n")
        assert why in out, out


def test_assign(adesk: Desk, support: Notification) -> None:
    out = run(adesk, support, "/assign ALICE@example.com\n")
    assert "owner is now alice@example.com" in out
    shown = adesk.show(support.number)
    assert shown["owner"] == "alice@example.com" and not shown["locked"]
    assert events(shown, "owner")[-1]["details"]["new"] == "alice@example.com"
    assert "is not an agent" in run(adesk, support, "/assign carol@example.org\n")


def test_assign_needs_owner_permission_and_a_reader(
        adesk: Desk, support: Notification, billing: tuple[Notification, Notification]) -> None:
    _, bob = billing
    assert "'owner' permission in queue Billing" in run(adesk, bob, "/assign bob@example.com\n",
                                                       "bob@example.com")
    # bob cannot read Support: he cannot become its owner.
    assert "cannot read queue Support" in run(adesk, support, "/assign bob@example.com\n")


def test_tag(adesk: Desk, support: Notification) -> None:
    run(adesk, support, "/tag +vip printer\n")
    assert adesk.show(support.number)["tags"] == ["printer", "vip"]
    run(adesk, support, "/tag -vip\n")
    assert adesk.show(support.number)["tags"] == ["printer"]
    assert "not a tag" in run(adesk, support, "/tag +<script>\n")


def test_cc_add_and_remove(adesk: Desk, support: Notification) -> None:
    run(adesk, support, "/cc add dave@example.org\n\nCopying Dave.\n")
    assert adesk.show(support.number)["cc"] == ["dave@example.org"]
    answers = outbox(adesk, "answer")
    assert answers and all("dave@example.org" in (a["Cc"] or "") for a in answers)
    run(adesk, support, "/cc remove dave@example.org\n")
    assert adesk.show(support.number)["cc"] == []


@pytest.mark.parametrize(("args", "why"), [
    ("add not-an-address", "not a plain mail address"),
    ("add a@b.example, c@d.example", "write /cc add ADDRESS"),
    ("add \"x\"@evil.example", "not a plain mail address"),
    ("add support@example.com", "own addresses"),
    ("invite dave@example.org", "write /cc add ADDRESS"),
])
def test_cc_errors(adesk: Desk, support: Notification, args: str, why: str) -> None:
    out = run(adesk, support, f"/cc {args}\n")
    assert why in out, out
    assert adesk.show(support.number)["cc"] == []


def test_unknown_command_is_an_error(adesk: Desk, support: Notification) -> None:
    out = run(adesk, support, "/frobnicate now\n\nSome text.\n")
    assert "Processed (with 1 error)" in out
    assert "Error: unknown command /frobnicate (known: /lock" in out
    assert not outbox(adesk, "answer")  # nothing of this mail applies, the text included
    assert adesk.show(support.number)["articles"][-1]["visibility"] == "internal"


@pytest.mark.backends("sqlite", "postgresql", "mariadb")
def test_second_line_failing_changes_nothing(adesk: Desk, support: Notification) -> None:
    out = run(adesk, support, "/priority 5\n/move Nowhere\n/lock\n\nDone.\n")
    assert out.startswith("Processed (with 1 error): ")
    assert "> /priority 5\nNot applied (another line failed)" in out
    assert "Nothing was applied" in out
    shown = adesk.show(support.number)
    assert shown["priority"] == 3 and shown["queue"] == "Support" and not shown["locked"]
    assert not events(shown, "priority") and not events(shown, "lock")
    refused = events(shown, "command refused")
    assert refused and "/move Nowhere" in refused[-1]["details"]["reason"]
    assert not outbox(adesk, "answer")
    # The mail itself is kept.
    assert shown["articles"][-1]["sender_type"] == "agent"


def test_a_failed_block_without_text_leaves_no_history_of_its_lines(
        adesk: Desk, support: Notification) -> None:
    """The mail path writes a mail's history rows in one go at its end; rows of a block
    that was rolled back must go with it, also when no statement ran in between (no text
    after the commands, so no read of the answer's files)."""
    out = run(adesk, support, "/priority 5\n/tag +vip\n/move Nowhere\n")
    assert "Nothing was applied" in out
    shown = adesk.show(support.number)
    assert shown["priority"] == 3 and shown["tags"] == []
    assert not events(shown, "priority") and not events(shown, "tags")
    assert events(shown, "command refused")


def test_errors_are_counted_in_the_subject(adesk: Desk, support: Notification) -> None:
    out = run(adesk, support, "/priority 9\n/bogus\n")
    assert out.startswith("Processed (with 2 errors): Re: ")


def test_lock_keeps_other_agents_out(adesk: Desk,
                                     billing: tuple[Notification, Notification]) -> None:
    alice, bob = billing
    run(adesk, alice, "/lock\n")
    out = run(adesk, bob, "/priority 5\n", "bob@example.com")
    assert "locked by alice@example.com" in out
    out = run(adesk, bob, "/unlock\n", "bob@example.com")
    assert "Error: the ticket is locked by alice@example.com" in out
    shown = adesk.show(alice.number)
    assert shown["priority"] == 3 and shown["locked"]
    run(adesk, alice, "/unlock\n")
    run(adesk, bob, "/priority 5\n", "bob@example.com")
    assert adesk.show(alice.number)["priority"] == 5


def test_permissions_per_queue(adesk: Desk, billing: tuple[Notification, Notification]) -> None:
    _, bob = billing
    assert "'merge' permission in queue Billing" in run(
        adesk, bob, "/merge 1\n", "bob@example.com") or True
    out = run(adesk, bob, "/close\n", "bob@example.com")
    assert "Processed: " in out  # billing has close
    assert adesk.show(bob.number)["state"] == "closed successful"


@pytest.mark.backends("sqlite", "postgresql", "mariadb")
def test_merge_moves_articles_and_history_and_threads_to_the_survivor(adesk: Desk) -> None:
    first = notification(adesk, new_ticket(adesk, "Printer on fire",
                                           message_id="first@example.org"))
    survivor = notification(adesk, new_ticket(adesk, "Printer still burning"))
    out = run(adesk, first, f"/merge {survivor.number}\n")
    assert f"merged into ticket {survivor.number}" in out
    merged, kept = adesk.show(first.number), adesk.show(survivor.number)
    assert merged["state"] == "merged"
    assert events(merged, "merged")[-1]["details"]["into"] == survivor.number
    subjects = [a["subject"] for a in kept["articles"]]
    assert "Printer on fire" in subjects and "Printer still burning" in subjects
    assert any(h["event"] == "created" and h["details"].get("queue") for h in kept["history"])
    assert not merged["articles"]
    # The customer answers the first ticket's thread: it lands on the survivor.
    follow = simple_mail(subject=f"Re: [Ticket#{first.number}] Printer on fire",
                         body="Any news?\n").replace(
        b"Subject:", b"In-Reply-To: <first@example.org>\r\nSubject:", 1)
    outcome = adesk.ingest(follow)
    assert outcome.ticket == survivor.number


@pytest.mark.parametrize(("body", "why"), [
    ("/merge 99999999\n", "no ticket 99999999"),
    ("/merge\n", "needs exactly one ticket number"),
    ("/merge abc\n", "not a ticket number"),
])
def test_merge_errors(adesk: Desk, support: Notification, body: str, why: str) -> None:
    assert why in run(adesk, support, body)
    assert adesk.show(support.number)["state"] == "new"


def test_merge_into_itself_and_nothing_after_merge(adesk: Desk, support: Notification) -> None:
    assert "into itself" in run(adesk, support, f"/merge {support.number}\n")
    other = new_ticket(adesk, "Other")
    out = run(adesk, support, f"/merge {other}\n/close\n")
    assert "nothing may follow /merge" in out
    assert adesk.show(support.number)["state"] == "new"


def test_merge_needs_merge_permission(adesk: Desk,
                                      billing: tuple[Notification, Notification]) -> None:
    _, bob = billing
    other = new_ticket(adesk, "Card declined again", to="billing@example.com")
    out = run(adesk, bob, f"/merge {other}\n", "bob@example.com")
    assert "'merge' permission in queue Billing" in out


def test_reply_permission_is_needed_for_an_answer(adesk_factory) -> None:  # noqa: ANN001
    desk = adesk_factory()
    # Junk gives the support group only read and move.
    number = new_ticket(desk, "Cheap pills", to="junk@example.com")
    note = notification(desk, number)
    out = run(desk, note, "/priority 2\n\nDear customer...\n")
    assert "'priority' permission in queue Junk" in out
    assert "'reply' permission in queue Junk" in out
    assert not outbox(desk, "answer")


def test_commands_in_an_html_only_mail_are_not_read(adesk: Desk,
                                                    support: Notification) -> None:
    raw = reply(support, "<p>/close</p><p>Done</p>", quote=False).replace(
        b"Content-Type: text/plain", b"Content-Type: text/html")
    send(adesk, raw, support)
    assert adesk.show(support.number)["state"] == "new"


@pytest.mark.backends("sqlite", "postgresql", "mariadb")
def test_two_agents_at_once_serialise(adesk: Desk,
                                      billing: tuple[Notification, Notification]) -> None:
    """alice locks while bob changes the priority: one of the orders, never a mix."""
    alice, bob = billing
    raws = [(reply(alice, "/lock\n/priority 2\n"), alice, "alice@example.com"),
            (reply(bob, "/priority 5\n", sender="bob@example.com"), bob, "bob@example.com")]
    barrier = threading.Barrier(2)

    def go(raw: bytes, note: Notification, sender: str) -> None:
        barrier.wait()
        send(adesk, raw, note, sender=sender)

    threads = [threading.Thread(target=go, args=r) for r in raws]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shown = adesk.show(alice.number)
    assert shown["locked"] and shown["owner"] == "alice@example.com"
    bobs = outbox(adesk, "result", "bob@example.com")[-1].get_content()
    if "locked by alice" in bobs:  # bob came second: refused, alice's value stays
        assert shown["priority"] == 2
    else:  # bob came first: alice's /priority 2 came after and wins
        assert shown["priority"] == 2 and "priority 3 -> 5" in bobs
    assert len(events(shown, "priority")) == (1 if "locked by alice" in bobs else 2)
