"""The knowledge base on /metrics: suggestions offered, tickets the customer solved (after a
suggestion or not). Counted from the history table by serve's metrics refresh, like the
escalations, so every daemon on one database reports what all of them did."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session, aliased

from maildesk.kb.solved import SOLVED
from maildesk.kb.suggest import OFFERED
from maildesk.store.models import History

__all__ = ["KbMetrics"]


class KbMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.offered = Counter(
            "maildesk_kb_suggestions_offered",
            "Auto-responses that offered knowledge base entries (SPEC 18)", registry=registry)
        self.solved = Counter(
            "maildesk_kb_solved_by_customer",
            "Tickets closed by their customer's /solved, by whether entries had been offered",
            ["after_suggestion"], registry=registry)
        for label in ("true", "false"):
            self.solved.labels(label)

    def refresh(self, session: Session, seen: int | None, last: int) -> None:
        """Add what the history gained in (seen, last]; the whole history on the first
        refresh of a process."""
        window = and_(History.id > (seen or 0), History.id <= last)
        offered = session.execute(select(func.count()).select_from(History).where(
            window, History.event == OFFERED)).scalar() or 0
        earlier = aliased(History)
        had = exists().where(earlier.ticket_id == History.ticket_id, earlier.event == OFFERED)
        rows = session.execute(select(had, func.count()).select_from(History).where(
            window, History.event == SOLVED).group_by(had)).all()
        if offered:
            self.offered.inc(offered)
        for after, count in rows:
            self.solved.labels("true" if after else "false").inc(count)
