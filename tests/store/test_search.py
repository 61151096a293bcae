"""Full-text search (maildesk.store.search) on each backend: every word of the query in one
article, whatever the backend's index leaves out (MariaDB: stopwords and short words), and
pages of a common word that are the same whether it is walked ticket by ticket or read
as a match set."""

from __future__ import annotations

import pytest

from maildesk.http.api import reads
from maildesk.http.tokens import Caller
from maildesk.store import search
from tests.conftest import Desk, simple_mail

pytestmark = pytest.mark.backends()

CALLER = Caller(id=0, name="test", scope="read", queues=(), last_used_at=None)


def make(desk: Desk, bodies: list[str]) -> list[str]:
    app = desk.app()
    try:
        from maildesk.intake.message import Envelope

        numbers = []
        for i, body in enumerate(bodies):
            outcome = app.ingest(simple_mail(subject=f"Case {i}", body=body),
                                 Envelope(sender="carol@example.org",
                                          recipients=("support@example.com",)))
            assert outcome.ticket, outcome
            numbers.append(outcome.ticket)
        return numbers
    finally:
        app.close()


def found(desk: Desk, q: str, limit: int = 50) -> list[str]:
    """Every page of the API's list with `q`, in order."""
    app = desk.app()
    try:
        out: list[str] = []
        cursor = None
        while True:
            rows, cursor = reads.list_tickets(app.runtime, CALLER, queue=None, state=None,
                                              customer=None, q=q, limit=limit, cursor=cursor)
            out += [str(r["number"]) for r in rows]
            if cursor is None:
                return out
    finally:
        app.close()


def test_stopwords_and_short_words_are_searched_like_any_word(desk: Desk) -> None:
    tv, fire, invoice = make(desk, ["My TV is broken and the printer too.",
                                    "The printer is on fire!",
                                    "A question about the invoice, please."])
    assert found(desk, "the printer") == [tv, fire]  # "the": an InnoDB stopword
    assert found(desk, "tv") == [tv]  # shorter than innodb_ft_min_token_size
    assert found(desk, "TV broken") == [tv]
    assert found(desk, "is") == [tv, fire]
    assert found(desk, "question about") == [invoice]
    assert found(desk, "about the") == [invoice]
    assert found(desk, "tv fire") == []  # every word, in one article
    assert found(desk, "printer") == [tv, fire]
    cli = desk.tickets("--search", "the TV")
    assert [t["number"] for t in cli] == [tv]


def test_a_common_word_pages_the_same_walked_or_from_the_match_set(
        desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = [f"printer case {i}" + (" zebra" if i % 7 == 3 else "") for i in range(30)]
    numbers = make(desk, bodies)
    zebras = [n for i, n in enumerate(numbers) if i % 7 == 3]
    as_set = {q: found(desk, q, limit=4) for q in ("printer", "zebra", "printer zebra")}
    assert as_set == {"printer": numbers, "zebra": zebras, "printer zebra": zebras}
    # So few tickets never walk; a cheaper walk makes "printer" (30 of 30) walk.
    monkeypatch.setattr(search, "WALK_COST", 0.2)
    app = desk.app()
    try:
        with app.db.reading() as session:
            common = search.matching(session, "printer", limit=5)
            rare = search.matching(session, "zebra", limit=5)
            assert common is not None and rare is not None
            walked = "EXISTS" in str(common)
            assert walked == (app.db.dialect == "sqlite") and "EXISTS" not in str(rare)
    finally:
        app.close()
    assert {q: found(desk, q, limit=4) for q in as_set} == as_set
