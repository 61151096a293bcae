"""ticket_counts (maildesk.store.rollup) agree with the tickets after every kind of change:
new tickets, a move, a close, a merge, a block the engine refused (rolled back), and after
`rebuild` of counts a bulk load left behind. Runs on every backend (tests/store/)."""

from __future__ import annotations

from sqlalchemy import insert, select

from maildesk.app import App
from maildesk.intake.message import Envelope
from maildesk.store import rollup
from maildesk.store.models import Ticket
from maildesk.store.rollup import TicketCount
from tests.conftest import Desk, simple_mail


def _ticket(app: App, subject: str, to: str = "support@example.com") -> str:
    sender = "carol@example.org"
    outcome = app.ingest(simple_mail(subject=subject, sender=sender, to=to),
                         Envelope(sender=sender, recipients=(to,)))
    assert outcome.ticket, outcome
    return outcome.ticket


def _counts(app: App, queues: list[str]) -> dict[tuple[str, str], int]:
    with app.db.reading() as session:
        assert rollup.drift(session) == {}
        return {k: n for k, n in rollup.counts(session, queues).items() if n}


def _run(app: App, number: str, *lines: str) -> bool:
    from maildesk.http.web import engine

    agent = app.config.agent("alice@example.com")
    assert agent is not None
    return engine.run_block(app.runtime, agent, number, list(lines), "", note=False).applied


def test_counts_follow_new_moved_closed_merged_and_refused(desk: Desk) -> None:
    app = desk.app()
    try:
        one, two, three = (_ticket(app, f"printer {n}") for n in range(3))
        _ticket(app, "an invoice", to="billing@example.com")
        queues = ["Support", "Billing", "Sales"]
        assert _counts(app, queues) == {("Support", "new"): 3, ("Billing", "new"): 1}
        assert _run(app, one, "/move Sales")
        assert _run(app, two, "/close")
        four = _ticket(app, "printer 4")
        assert _run(app, four, f"/merge {three}")
        # A refused block changes nothing (one bad line: all or none, rolled back).
        assert not _run(app, one, "/close", "/move Nowhere")
        counts = _counts(app, queues)
        assert counts[("Sales", "new")] == 1 and counts[("Billing", "new")] == 1
        assert counts[("Support", "closed successful")] == 1
        assert counts[("Support", "merged")] == 1 and counts[("Support", "new")] == 1
        assert sum(counts.values()) == 5
    finally:
        app.close()


def test_rebuild_after_a_bulk_load(desk: Desk) -> None:
    app = desk.app()
    try:
        _ticket(app, "printer")
        with app.db.transaction() as session:  # Core: the ORM's hook does not see it
            session.execute(insert(Ticket), [
                {"number": f"B{n}", "title": "bulk", "queue": "Sales", "state": "open",
                 "customer": "x@example.org", "version": 1} for n in range(20)])
        with app.db.reading() as session:
            assert rollup.drift(session) == {("Sales", "open"): (0, 20)}
        with app.db.transaction() as session:
            rollup.rebuild(session)
        assert _counts(app, ["Support", "Sales"]) == {("Support", "new"): 1,
                                                      ("Sales", "open"): 20}
        with app.db.reading() as session:  # spread over slots, summed by readers
            slots = session.execute(select(TicketCount.slot).where(
                TicketCount.queue == "Sales")).scalars().all()
        assert len(set(slots)) == min(20, rollup.SLOTS)
    finally:
        app.close()
