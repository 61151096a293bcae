"""The agents' ticket list and queue overview: what agents' pages read (blocking; on the
HTTP thread pool). Every query is limited to the queues where the agent has `read`: a
queue without it is not even named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maildesk.config import Agent, Config
from maildesk.config.vocabulary import STATES
from maildesk.store import rollup
from maildesk.store.models import Ticket, Timer

if TYPE_CHECKING:
    from maildesk.core.customer_tickets import Listing
    from maildesk.runtime import Runtime

__all__ = ["Filters", "QueueCounts", "overview", "readable_queues", "ticket_list"]

CLOCKS = ("first_response", "update", "solution")
CLOSED = ("closed successful", "closed unsuccessful", "merged")


def readable_queues(config: Config, agent: Agent) -> list[str]:
    return [q.name for q in config.queues if "read" in config.permissions(agent, q.name)]


@dataclass
class QueueCounts:
    queue: str
    by_state: dict[str, int]
    escalated: int

    @property
    def open_total(self) -> int:
        return sum(n for s, n in self.by_state.items() if not s.startswith(("closed", "merged")))


def overview(rt: Runtime, agent: Agent) -> list[QueueCounts]:
    """Counts by state from `ticket_counts` (kept with every change, store.rollup), and
    the tickets with a breached clock from the timers' stage index: neither reads the
    tickets table whole."""
    from maildesk.store import rollup

    queues = readable_queues(rt.config, agent)
    if not queues:
        return []
    rows = {q: QueueCounts(q, dict.fromkeys(STATES, 0), 0) for q in queues}
    with rt.db.reading() as session:
        for (queue, state), n in rollup.counts(session, queues).items():
            if n:
                rows[queue].by_state[state] = n
        # IN, not a JOIN: SQLite then walks the few breached clocks and looks their
        # tickets up by id (a join scanned the queue index: 0.6 s at 1,000,000).
        breached = select(Timer.ticket_id).where(Timer.stage >= 2, Timer.kind.in_(CLOCKS))
        for queue, n in session.execute(
                select(Ticket.queue, func.count())
                .where(Ticket.id.in_(breached), Ticket.queue.in_(queues))
                .group_by(Ticket.queue)):
            rows[queue].escalated = int(n)
    return list(rows.values())


SORTS = {
    "updated": (Ticket.updated_at.desc(), Ticket.id.desc()),
    "oldest": (Ticket.updated_at.asc(), Ticket.id.asc()),
    "created": (Ticket.created_at.desc(), Ticket.id.desc()),
    "priority": (Ticket.priority.desc(), Ticket.updated_at.desc(), Ticket.id.desc()),
    "number": (Ticket.number.asc(),),
}
PAGE = 50
# Sorts an index keeps in order (tickets' updated_at, created_at, number): a search reads
# the tickets in that order and may stop after the page (store.search's walk); by
# priority every match is sorted, so the search hands over its whole match set.
IN_INDEX_ORDER = frozenset({"updated", "oldest", "created", "number"})


@dataclass
class Filters:
    queue: str | None = None
    state: str | None = None
    q: str | None = None
    owner: str | None = None
    escalated: bool = False
    sort: str = "updated"
    page: int = 1


def ticket_list(rt: Runtime, agent: Agent, f: Filters) -> Listing:
    """Tickets of the agent's readable queues, filtered, sorted, one page; a queue the
    agent may not read gives an empty list, as a queue that does not exist does."""
    from maildesk.core.customer_tickets import Listing
    from maildesk.store.search import matching

    queues = readable_queues(rt.config, agent)
    if f.queue is not None:
        queues = [q for q in queues if q == f.queue]
    page = max(1, f.page)
    if not queues:
        return Listing([], page, False)
    sort = f.sort if f.sort in SORTS else "updated"
    walk = bool(f.q) and sort in IN_INDEX_ORDER
    wanted = page * PAGE + 1  # the rows read: the pages before, this one, one more
    with rt.db.reading() as session:
        # A search read in the sort's index order: SQLite (no statistics) would rather
        # take the queue or state index and sort, running the search's per-ticket check
        # on every ticket of those queues first; `|| ''` leaves it the sort's index. The
        # same without a search when most tickets are in the page's queues and states:
        # the queue index then read and sorted all of them (4 s at 1,000,000).
        unindexed = session.get_bind().dialect.name == "sqlite" and sort in IN_INDEX_ORDER \
            and (walk or (not f.escalated and _dense(session, queues, f.state, wanted)))
        queue, state = (Ticket.queue + "", Ticket.state + "") if unindexed else (
            Ticket.queue, Ticket.state)
        query = select(Ticket).where(queue.in_(queues))
        if f.state == "open-all":
            query = query.where(state.not_in(CLOSED))
        elif f.state:
            query = query.where(state == f.state)
        if f.owner:
            query = query.where(Ticket.owner == f.owner.lower())
        if f.escalated:
            query = query.where(Ticket.id.in_(select(Timer.ticket_id).where(
                Timer.kind.in_(CLOCKS), Timer.stage >= 2)))
        if f.q:
            condition = matching(session, f.q, limit=wanted if walk else None)
            if condition is not None:
                query = query.where(condition)
        query = query.order_by(*SORTS[sort])
        rows = list(session.execute(query.offset((page - 1) * PAGE).limit(PAGE + 1))
                    .scalars())
        session.expunge_all()
    return Listing(rows[:PAGE], page, len(rows) > PAGE)


def _dense(session: Session, queues: list[str], state: str | None, wanted: int) -> bool:
    """Whether the tickets in these queues (and state) are so many that reading every
    ticket in the sort's order, skipping the others, reaches `wanted` sooner than the
    queue index reads and sorts them all: with `selected` of `total` tickets the walk
    reads about wanted * total / selected rows, the sort `selected` rows. The counts kept
    with every change (store.rollup) tell, as SQLite has no statistics to."""
    kept = rollup.counts(session, queues)
    total = session.execute(select(func.sum(rollup.TicketCount.n))).scalar() or 0
    selected = sum(n for (_, s), n in kept.items() if _state_matches(s, state))
    return selected * selected > wanted * total


def _state_matches(state: str, wanted: str | None) -> bool:
    if wanted == "open-all":
        return state not in CLOSED
    return wanted is None or state == wanted
