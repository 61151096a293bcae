"""Full-text search over tickets, one function for every backend (SPEC 14's `q`, and
`maildesk tickets --search`).

Each backend uses its own index, made by migration 0008_search:

* SQLite: an FTS5 table over the articles' subject and body (external content, kept by
  triggers), queried with each word as a quoted phrase (so `AND`, `*`, `"` typed by a
  user are words, never syntax);
* PostgreSQL: a GIN index on `to_tsvector('simple', subject || ' ' || body)` and
  `plainto_tsquery('simple', ...)`; 'simple' because tickets come in every language;
* MariaDB/MySQL: a FULLTEXT index on (subject, body), `MATCH ... AGAINST` in boolean mode
  with every word required. InnoDB ignores words shorter than
  `innodb_ft_min_token_size` (3) and its stopwords.

All words must occur somewhere in one article of the ticket (the first article's
subject is the ticket's title). The result is a condition on `tickets.id`.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, literal_column, select, text
from sqlalchemy.orm import Session

from maildesk.store.models import Article, Ticket

__all__ = ["SEARCH_OBJECTS", "matching", "words"]

MAX_WORDS = 16
# Tables and indexes the models do not declare (they differ per backend): schema
# comparisons leave them out.
SEARCH_OBJECTS = re.compile(r"^(articles_fts.*|ix_articles_search|ft_articles)$")


def words(query: str) -> list[str]:
    """The words of a user's query: letters and digits, in order, at most MAX_WORDS."""
    return re.findall(r"\w+", query, re.UNICODE)[:MAX_WORDS]


def matching(session: Session, query: str) -> ColumnElement[bool] | None:
    """A condition selecting the tickets whose articles hold every word of `query`;
    None when the query has no words (no filter)."""
    found = words(query)
    if not found:
        return None
    dialect = session.get_bind().dialect.name
    ids: Any  # a Select of ticket ids, built per dialect
    if dialect == "sqlite":
        expr = " ".join('"' + w.replace('"', '""') + '"' for w in found)
        # Through the FTS rowid (the article id) and the articles' primary key: reading
        # the UNINDEXED ticket_id column goes back to the content table row by row.
        rowids: Select[Any] = (
            select(literal_column("rowid")).select_from(text("articles_fts"))
            .where(text("articles_fts MATCH :fts_query").bindparams(fts_query=expr)))
        ids = select(Article.ticket_id).where(Article.id.in_(rowids))
    elif dialect == "postgresql":
        ids = select(Article.ticket_id).where(text(
            "to_tsvector('simple', coalesce(articles.subject, '') || ' ' || articles.body) "
            "@@ plainto_tsquery('simple', :fts_query)").bindparams(fts_query=" ".join(found)))
    else:
        expr = " ".join(f'+"{w}"' for w in found)
        ids = select(Article.ticket_id).where(text(
            "MATCH (articles.subject, articles.body) AGAINST (:fts_query IN BOOLEAN MODE)"
        ).bindparams(fts_query=expr))
    return Ticket.id.in_(ids)
