"""store.lean._Plan.parameters (issue 20): with every key given, the values taken at once
give the driver's parameters and the primary keys the bind-by-bind way gives, on each
dialect; a key missing (a default) or a dict subclass goes bind by bind."""

from __future__ import annotations

import datetime
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, insert, or_, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite

from maildesk.store import lean
from maildesk.store.models import Article, Counter, History, MessageIdRow, Ticket

_NOW = datetime.datetime(2026, 12, 2, 13, 0, 0, 123)
_ARTICLES = cast(Table, Article.__table__)
_COUNTERS = cast(Table, Counter.__table__)


class _Slow(dict[str, Any]):
    """A dict subclass: `parameters` takes it bind by bind, the way it always did."""


def _rows() -> list[tuple[Any, dict[str, Any]]]:
    article = {"ticket_id": 5, "message_id": "<a@b>", "from_addr": "a@b", "to_json": "[]",
               "cc_json": "[]", "subject": "é", "sender_type": "customer",
               "visibility": "public", "kind": "mail", "body": "x", "raw_sha256": "h",
               "content_sha256": "c", "raw_key": "k", "raw_size": 10, "envelope_json": "{}",
               "notes_json": "[]", "verified": True, "created_at": _NOW, "has_html": None}
    ticket = {"number": "1", "title": "t", "queue": "q", "customer": "c", "priority": 3,
              "state": "new", "owner": None, "locked": False, "customer_id": None,
              "cc_json": "[]", "tags_json": "[]", "language": None, "pending_until": None,
              "merged_into_id": None, "linked_to_id": None, "created_at": _NOW,
              "updated_at": _NOW, "first_response_at": None, "closed_at": None, "version": 1}
    history = {"ticket_id": 5, "event": "e", "actor": "a", "at": _NOW, "details_json": "{}"}
    either = (select(_ARTICLES.c.ticket_id)
              .where(or_(_ARTICLES.c.raw_sha256 == bindparam("key"),
                         _ARTICLES.c.content_sha256 == bindparam("key"))))
    bump = (update(_COUNTERS).where(_COUNTERS.c.name == bindparam("counter"))
            .values(value=_COUNTERS.c.value + 1))
    return [
        (insert(cast(Table, Article.__table__)), article),
        (insert(cast(Table, Ticket.__table__)), ticket),
        (insert(cast(Table, Ticket.__table__)), {**ticket, "id": 42}),  # the key given
        (insert(cast(Table, History.__table__)), history),
        (insert(cast(Table, MessageIdRow.__table__)),
         {"message_id": "m", "ticket_id": 5, "direction": "in", "outbox_id": None,
          "created_at": _NOW}),
        (either, {"key": "k"}),  # one parameter twice in the SQL
        (bump, {"counter": "ticket"}),
    ]


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect(),
                                     mysql.dialect()], ids=lambda d: d.name)
def test_taken_at_once_as_bind_by_bind(dialect: Any) -> None:
    for statement, row in _rows():
        plan = lean._plan(statement, dialect, tuple(row), False)
        assert plan is not None
        assert (plan.take is not None) == (len(plan.binds) > 1)  # one: bind by bind
        fast, given = plan.parameters(row)
        slow, every = plan.parameters(_Slow(row))
        assert fast == slow and type(fast) is type(slow)
        assert (given is None) == (every is None)
        if given is not None:  # what the primary-key getters make of them
            assert plan.pk_from_lastrowid(7, given) == plan.pk_from_lastrowid(7, every)
            assert plan.pk_from_lastrowid(None, given) == plan.pk_from_lastrowid(None, every)


def test_a_missing_key_takes_its_default() -> None:
    """Ticket.version has a default: left out, the bind-by-bind way fills it in."""
    statement, row = _rows()[1]
    full = lean._plan(statement, sqlite.dialect(), tuple(row), False)
    del row["version"]
    plan = lean._plan(statement, sqlite.dialect(), tuple(row), False)
    assert plan is not None and full is not None
    assert plan.parameters(row)[0] == plan.parameters(_Slow(row))[0]
