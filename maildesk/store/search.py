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
subject is the ticket's title). The result is a condition on `tickets.id`. SQLite indexes
the first SEARCH_CHARS characters of each body (migration 0019_bigmail: FTS5 over a view
with that cut): the whole of a 100 KB mail cost its ingest ~1.5 ms of tokenising and index
merging, for words that are nearly always the quoted conversation, whose own articles hold
them. A word found only past that point of a long body is not found there.

A page of a common word: `tickets.id IN (matches)` makes every backend build the whole
match set before the first row (SQLite 16 s for a word in every ticket of 100,000; InnoDB
builds a MATCH's whole set whatever the LIMIT). With the page size known (`limit`), a
word found in many articles is checked ticket by ticket instead (`_walk`: a correlated
EXISTS on the ticket's articles, in the order the caller reads tickets, which must be an
index's for the walk to stop early) and the page ends after `limit` hits; a rare one keeps
the match set (walking a million tickets for ten hits would be the slow case then). How
common, per backend: SQLite counts the FTS matches up to the break-even point; PostgreSQL
asks its planner (ANALYZE's statistics of the indexed expression); MariaDB counts the
matches among the newest SAMPLE articles. The per-ticket check: an FTS rowid seek
(SQLite), to_tsvector of that ticket's articles (PostgreSQL), the words' REGEXPs
(MariaDB: any MATCH reads its whole set; the REGEXP folds case and Latin accents as the
columns' utf8mb4_unicode_ci collation does, so a page is the same either way).
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    TextClause,
    and_,
    case,
    exists,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.orm import Session

from maildesk.store.models import Article, Ticket

__all__ = ["INNODB_STOPWORDS", "SEARCH_CHARS", "SEARCH_OBJECTS", "matching", "words"]

MAX_WORDS = 16
SEARCH_CHARS = 16384  # characters of a body SQLite's index holds (0019_bigmail)
# Tables and indexes the models do not declare (the full-text ones differ per backend;
# 0017_search's updated_at order for the web list's walk): schema
# comparisons leave them out.
SEARCH_OBJECTS = re.compile(
    r"^(articles_fts.*|ix_articles_search|ft_articles|ix_tickets_updated_at)$")
# One check ticket by ticket costs about this many reads of the match set: a walk for
# `limit` hits at density d costs limit/d checks, the match set costs its size m. With
# N tickets (d = m/N) walking wins when m*m > limit*N*WALK_COST.
WALK_COST = 20
_TSV = "to_tsvector('simple', coalesce(articles.subject, '') || ' ' || articles.body)"
# InnoDB's default stopwords (INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD, which only
# an account with PROCESS may read): never in a FULLTEXT index made with stopwords on.
INNODB_STOPWORDS = frozenset(
    "a about an are as at be by com de en for from how i in is it la of on or that the "
    "this to was what when where who will with und www".split())


def words(query: str) -> list[str]:
    """The words of a user's query: letters and digits, in order, at most MAX_WORDS (an
    underscore separates words, as in the SQLite and PostgreSQL tokenizers)."""
    return re.findall(r"[^\W_]+", query)[:MAX_WORDS]


def matching(session: Session, query: str, *,
             limit: int | None = None) -> ColumnElement[bool] | None:
    """A condition selecting the tickets whose articles hold every word of `query`;
    None when the query has no words (no filter). `limit`: the caller reads only this
    many tickets, in an order an index keeps (a page), which lets a common word stop
    early."""
    found = words(query)
    if not found:
        return None
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return _sqlite(session, found, limit)
    if dialect == "postgresql":
        return _postgresql(session, found, limit)
    return _mysql(session, found, limit)


def _walk(*conditions: ColumnElement[bool] | TextClause,
          correlated: bool = False) -> ColumnElement[bool]:
    """Ticket by ticket: whether one of its articles meets the conditions (read in the
    caller's order, so a page of a common word stops after its last row). `correlated`:
    as a scalar subquery with LIMIT 1, which the server runs per ticket: PostgreSQL
    merges an EXISTS with a scan of every article from the first (55 s for a page after
    ticket 500,000), MariaDB turns it into a semi-join materialising every match."""
    if correlated:
        return (select(Article.id).where(Article.ticket_id == Ticket.id, *conditions)
                .limit(1).scalar_subquery().is_not(None))
    return exists(select(Article.id).where(Article.ticket_id == Ticket.id, *conditions))


def _enough(session: Session, limit: int) -> int:
    """How many matching articles make the walk cheaper than the match set: a walk for
    `limit` hits at density d = m/N checks limit/d tickets, the match set costs m, and
    one check costs about WALK_COST reads of the set, so walking wins when
    m*m > limit*N*WALK_COST."""
    # The id span, not the highest id (as _mysql_common's): a database whose sequence went
    # on past deleted rows (the tests' reused server databases) is not counted by it.
    low, high = session.execute(select(func.min(Ticket.id), func.max(Ticket.id))).one()
    tickets = (high - low + 1) if high is not None and low is not None else 0
    return int(math.sqrt(max(limit, 1) * tickets * WALK_COST)) + 1


# Walk or match set, as decided for (database, words, break-even point) in the last
# DECIDED_FOR seconds: counting a common word's matches up to the break-even point is
# 40% of its page's CPU (SQLite, `printer refund` at 1,000,000: 3.6 of 8.4 ms), and the
# pages are the same either way (tests/store/test_search.py), so a stale answer costs
# time at worst. The break-even point moves with the tickets' count, and so the key.
DECIDED_FOR = 60.0
_DECIDED: dict[tuple[str, tuple[str, ...], int], tuple[float, bool]] = {}


def _decided(session: Session, found: list[str], limit: int,
             decide: Callable[[int], bool]) -> bool:
    """`decide(enough)`, or its answer of the last DECIDED_FOR seconds."""
    enough = _enough(session, limit)
    key = (str(session.get_bind().engine.url), tuple(found), enough)
    now = time.monotonic()
    hit = _DECIDED.get(key)
    if hit is not None and now - hit[0] < DECIDED_FOR:
        return hit[1]
    walk = decide(enough)
    if len(_DECIDED) >= 1000:  # bounded: queries are whatever users type
        _DECIDED.clear()
    _DECIDED[key] = (now, walk)
    return walk


def _sqlite(session: Session, found: list[str], limit: int | None) -> ColumnElement[bool]:
    expr = " ".join('"' + w.replace('"', '""') + '"' for w in found)
    if limit is not None and _decided(session, found, limit,
                                      lambda enough: _common(session, expr, enough)):
        # Per ticket: its articles' ids looked up in the FTS index (a rowid seek in each
        # word's list), so a page of tickets in id order reads about `limit` of them.
        return _walk(text("EXISTS (SELECT 1 FROM articles_fts WHERE articles_fts MATCH "
                          ":fts_query AND articles_fts.rowid = articles.id)")
                     .bindparams(fts_query=expr))
    # Through the FTS rowid (the article id) and the articles' primary key: reading
    # the UNINDEXED ticket_id column goes back to the content table row by row.
    rowids: Select[Any] = (
        select(literal_column("rowid")).select_from(text("articles_fts"))
        .where(text("articles_fts MATCH :fts_query").bindparams(fts_query=expr)))
    return Ticket.id.in_(select(Article.ticket_id).where(Article.id.in_(rowids)))


def _common(session: Session, expr: str, enough: int) -> bool:
    """Whether the matches are so many that checking tickets one by one is cheaper;
    counted only up to the point where that is decided (a bounded read of the index)."""
    counted = session.execute(text(
        "SELECT count(*) FROM (SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q "
        "LIMIT :n)").bindparams(q=expr, n=enough)).scalar() or 0
    return counted >= enough


def _postgresql(session: Session, found: list[str],
                limit: int | None) -> ColumnElement[bool]:
    phrase = " ".join(found)
    if limit is not None and _decided(session, found, limit,
                                      lambda enough: _pg_estimate(session, found) >= enough):
        # to_tsvector of each article read (no index): ~limit of them for a page
        return _walk(text(f"{_TSV} @@ plainto_tsquery('simple', :fts_query)")
                     .bindparams(fts_query=phrase), correlated=True)
    # The GIN index: a bitmap of every matching article, as an array the tickets' primary
    # key is probed with. As `IN`, the planner merged the set with a scan of the tickets
    # (its guess for a word it has no statistics of is 0.5% of the articles): a rare
    # word's page read 493,000 tickets (0.9 s), or walked them all (59 s).
    return and_(text(f"tickets.id = ANY(ARRAY(SELECT articles.ticket_id FROM articles "
                     f"WHERE {_TSV} @@ plainto_tsquery('simple', :fts_query)))")
                .bindparams(fts_query=phrase))


def _pg_estimate(session: Session, found: list[str]) -> float:
    """How many articles hold every word, from ANALYZE's most common words of the
    indexed expression (no read of the index); 0 when one of them is not among those
    (a rare word, or no statistics yet): never a walk on a guess."""
    row = session.execute(text(
        "SELECT most_common_elems::text::text[], most_common_elem_freqs, "
        "(SELECT reltuples FROM pg_class WHERE relname = 'articles') FROM pg_stats "
        "WHERE tablename = 'ix_articles_search' LIMIT 1")).first()
    if row is None or row[0] is None:
        return 0.0
    freqs = dict(zip(row[0], row[1], strict=False))
    share = 1.0
    for word in {w.lower() for w in found}:
        if word not in freqs:
            return 0.0
        share *= float(freqs[word])
    return share * max(float(row[2] or 0), 0.0)


def _mysql(session: Session, found: list[str], limit: int | None) -> ColumnElement[bool]:
    shortest, longest, stopwords = _innodb_limits(session)
    indexed = [w for w in found if shortest <= len(w) <= longest
               and not (stopwords and w.lower() in INNODB_STOPWORDS)]
    regexps = [_regexp(i, w) for i, w in enumerate(found)]
    if limit is not None and (not indexed or _decided(
            session, found, limit, lambda enough: _mysql_common(session, regexps, enough))):
        # InnoDB builds a MATCH's whole result set whatever the LIMIT: a page of a common
        # word (or of words the index leaves out) reads its tickets' articles instead.
        return _walk(*regexps, correlated=True)
    # MATCH for the words InnoDB indexes, the REGEXP for the others; with none
    # indexable, the REGEXP alone (a scan, but the right answer).
    conditions = [r for w, r in zip(found, regexps, strict=True) if w not in indexed]
    if indexed:
        conditions.append(text("MATCH (articles.subject, articles.body) AGAINST "
                               "(:fts_query IN BOOLEAN MODE)").bindparams(
            fts_query=" ".join(f'+"{w}"' for w in indexed)))
    return Ticket.id.in_(select(Article.ticket_id).where(*conditions))


def _regexp(i: int, word: str) -> TextClause:
    """`word` as FULLTEXT finds it: a whole word, case and accents aside (the columns'
    utf8mb4_unicode_ci; `(*UCP)`: a letter beyond ASCII is a word character too)."""
    if len(word) > FOLDED:  # never a FULLTEXT token; a pattern PCRE2 still compiles
        body = re.escape(word)
    else:
        body = "".join(_FOLDS.get(unicodedata.normalize("NFD", c)[0].lower(), re.escape(c))
                       for c in word)
    return text(f"CONCAT(articles.subject, ' ', articles.body) REGEXP :fts_word{i}").bindparams(
        **{f"fts_word{i}": rf"(*UCP)(?i)(?<!\w){body}(?!\w)"})


def _folds() -> dict[str, str]:
    """Each ASCII letter's class of the Latin letters that decompose to it (é, È, ñ...)."""
    out: dict[str, set[str]] = {}
    for code in range(0xC0, 0x250):
        c = chr(code)
        base = unicodedata.normalize("NFD", c)[0]
        if base.isascii() and base.isalpha():
            out.setdefault(base.lower(), set()).add(c)
    return {b: "[" + b + b.upper() + "".join(sorted(v)) + "]" for b, v in out.items()}


_FOLDS = _folds()
FOLDED = 84  # innodb_ft_max_token_size's default; 500 folded letters are "too large"
SAMPLE = 400


def _mysql_common(session: Session, regexps: list[TextClause], enough: int) -> bool:
    """Whether the words are common enough to walk: their share of the newest SAMPLE
    articles, times the articles' count (the REGEXP on a few hundred rows; InnoDB
    keeps no count of a word's documents that one could read without PROCESS)."""
    sampled, hits = session.execute(
        select(func.count(), func.coalesce(func.sum(case((and_(*regexps), 1), else_=0)), 0))
        .select_from(select(Article.subject, Article.body).order_by(Article.id.desc())
                     .limit(SAMPLE).subquery("articles"))).one()
    # The id span, not the highest id: a database whose older rows were deleted (or a
    # test's reused one, its sequence going on) is not counted by its sequence.
    low, high = session.execute(select(func.min(Article.id), func.max(Article.id))).one()
    articles = (high - low + 1) if high is not None and low is not None else 0
    return bool(sampled) and hits / sampled * articles >= enough


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
