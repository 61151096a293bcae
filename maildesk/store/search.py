"""Full-text search over tickets, one function for every backend (SPEC 14's `q`, and
`maildesk tickets --search`).

Each backend uses its own index, made by migration 0008_search:

* SQLite: an FTS5 table over the articles' subject and body (external content, kept by
  triggers), queried with each word as a quoted phrase (so `AND`, `*`, `"` typed by a
  user are words, never syntax);
* PostgreSQL: a GIN index on `to_tsvector('simple', subject || ' ' || body)` and
  `plainto_tsquery('simple', ...)`; 'simple' because tickets come in every language;
* MariaDB/MySQL: a FULLTEXT index on (subject, body), `MATCH ... AGAINST` in boolean mode
  with every word required. InnoDB leaves out of its index the words shorter than
  `innodb_ft_min_token_size` (3), longer than `innodb_ft_max_token_size` and its
  stopwords ("the", "about", "is", ...), and a query requiring one of those finds
  nothing at all: such words are matched by a REGEXP on the rows the index found instead
  (`help with the tv` finds the tickets about a TV, as on the other backends).

All words must occur somewhere in one article of the ticket (the first article's
subject is the ticket's title). The result is a condition on `tickets.id`.

A page of a common word (SQLite): `tickets.id IN (matches)` makes SQLite build the whole
match set before the first row, 16 s for a word in every ticket of 100,000 (bench/api.py).
With the page size known (`limit`), a word found in many articles is checked ticket by
ticket instead, in id order, and the page ends after `limit` hits; a rare one keeps the
match set (walking a million tickets for ten hits would be the slow case then).
"""

from __future__ import annotations

import math
import re
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    TextClause,
    exists,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.orm import Session

from maildesk.store.models import Article, Ticket

__all__ = ["INNODB_STOPWORDS", "SEARCH_OBJECTS", "matching", "words"]

MAX_WORDS = 16
# Tables and indexes the models do not declare (they differ per backend): schema
# comparisons leave them out.
SEARCH_OBJECTS = re.compile(r"^(articles_fts.*|ix_articles_search|ft_articles)$")
# One check ticket by ticket costs about this many reads of the match set: a walk for
# `limit` hits at density d costs limit/d checks, the match set costs its size m. With
# N tickets (d = m/N) walking wins when m*m > limit*N*WALK_COST.
WALK_COST = 20
# InnoDB's default stopwords (INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD, which only
# an account with PROCESS may read): never in a FULLTEXT index made with stopwords on.
INNODB_STOPWORDS = frozenset(
    "a about an are as at be by com de en for from how i in is it la of on or that the "
    "this to was what when where who will with und www".split())


def words(query: str) -> list[str]:
    """The words of a user's query: letters and digits, in order, at most MAX_WORDS."""
    return re.findall(r"\w+", query, re.UNICODE)[:MAX_WORDS]


def matching(session: Session, query: str, *,
             limit: int | None = None) -> ColumnElement[bool] | None:
    """A condition selecting the tickets whose articles hold every word of `query`;
    None when the query has no words (no filter). `limit`: the caller reads only this
    many tickets in id order (a page), which lets a common word stop early."""
    found = words(query)
    if not found:
        return None
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return _sqlite(session, found, limit)
    ids: Any  # a Select of ticket ids, built per dialect
    if dialect == "postgresql":
        ids = select(Article.ticket_id).where(text(
            "to_tsvector('simple', coalesce(articles.subject, '') || ' ' || articles.body) "
            "@@ plainto_tsquery('simple', :fts_query)").bindparams(fts_query=" ".join(found)))
    else:
        ids = select(Article.ticket_id).where(*_mysql_conditions(session, found))
    return Ticket.id.in_(ids)


def _sqlite(session: Session, found: list[str], limit: int | None) -> ColumnElement[bool]:
    expr = " ".join('"' + w.replace('"', '""') + '"' for w in found)
    if limit is not None and _common(session, expr, limit):
        # Per ticket: its articles' ids looked up in the FTS index (a rowid seek in each
        # word's list), so a page of tickets in id order reads about `limit` of them.
        hit = text("EXISTS (SELECT 1 FROM articles_fts WHERE articles_fts MATCH :fts_query "
                   "AND articles_fts.rowid = articles.id)").bindparams(fts_query=expr)
        return exists(select(Article.id).where(Article.ticket_id == Ticket.id, hit))
    # Through the FTS rowid (the article id) and the articles' primary key: reading
    # the UNINDEXED ticket_id column goes back to the content table row by row.
    rowids: Select[Any] = (
        select(literal_column("rowid")).select_from(text("articles_fts"))
        .where(text("articles_fts MATCH :fts_query").bindparams(fts_query=expr)))
    return Ticket.id.in_(select(Article.ticket_id).where(Article.id.in_(rowids)))


def _common(session: Session, expr: str, limit: int) -> bool:
    """Whether the matches are so many that checking tickets one by one is cheaper;
    counted only up to the point where that is decided (a bounded read of the index)."""
    tickets = session.execute(select(func.max(Ticket.id))).scalar() or 0
    enough = int(math.sqrt(max(limit, 1) * tickets * WALK_COST)) + 1
    counted = session.execute(text(
        "SELECT count(*) FROM (SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q "
        "LIMIT :n)").bindparams(q=expr, n=enough)).scalar() or 0
    return counted >= enough


def _mysql_conditions(session: Session, found: list[str]) -> list[TextClause]:
    """MATCH for the words InnoDB indexes, a word-bounded REGEXP (case-insensitive) for
    the others; with none indexable, the REGEXP alone (a scan, but the right answer)."""
    shortest, longest, stopwords = _innodb_limits(session)
    indexed = [w for w in found if shortest <= len(w) <= longest
               and not (stopwords and w.lower() in INNODB_STOPWORDS)]
    out: list[TextClause] = []
    if indexed:
        out.append(text("MATCH (articles.subject, articles.body) AGAINST "
                        "(:fts_query IN BOOLEAN MODE)").bindparams(
            fts_query=" ".join(f'+"{w}"' for w in indexed)))
    for i, word in enumerate(w for w in found if w not in indexed):
        out.append(text(f"CONCAT(articles.subject, ' ', articles.body) REGEXP :fts_word{i}")
                   .bindparams(**{f"fts_word{i}": rf"(?i)\b{re.escape(word)}\b"}))
    return out


_LIMITS: dict[str, tuple[int, int, bool]] = {}


def _innodb_limits(session: Session) -> tuple[int, int, bool]:
    """The server's token sizes and whether stopwords are on: startup settings, read once
    per database URL."""
    url = str(session.get_bind().engine.url)
    if url not in _LIMITS:
        try:
            row = session.execute(text("SELECT @@innodb_ft_min_token_size, "
                                       "@@innodb_ft_max_token_size, "
                                       "@@innodb_ft_enable_stopword")).one()
            _LIMITS[url] = int(row[0]), int(row[1]), bool(int(row[2]))
        except Exception:  # noqa: BLE001 - not InnoDB (no such variables): its defaults
            _LIMITS[url] = 3, 84, True
    return _LIMITS[url]
