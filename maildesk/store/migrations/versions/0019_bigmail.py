"""bigmail: SQLite's full-text index holds the first SEARCH_CHARS characters of each body
(issue 20): a 100 KB mail's whole body cost the ingest ~1.5 ms of FTS5 tokenising and
index merging. The FTS table's content is a view with the same cut, so an FTS5 'rebuild'
or 'delete' sees what the triggers indexed. PostgreSQL and MariaDB are left as they are.

Revision ID: 0019_bigmail
Revises: 0018_daemon
"""

from __future__ import annotations

from alembic import op

revision = "0019_bigmail"
down_revision = "0018_daemon"
branch_labels = None
depends_on = None

SEARCH_CHARS = 16384  # maildesk.store.search.SEARCH_CHARS when this was written
_TRIGGERS = ("articles_fts_ai", "articles_fts_ad", "articles_fts_au")


def _fts(content: str, body: str) -> None:
    """The FTS table over `content`, filled from it, and the triggers that keep it,
    indexing `body` (an expression of new./old.) as the body."""
    op.execute("CREATE VIRTUAL TABLE articles_fts USING fts5(subject, body, "
               f"ticket_id UNINDEXED, content='{content}', content_rowid='id', "
               "tokenize='unicode61 remove_diacritics 2')")
    op.execute("INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')")
    new, old = body.format(row="new"), body.format(row="old")
    op.execute("CREATE TRIGGER articles_fts_ai AFTER INSERT ON articles BEGIN "
               "INSERT INTO articles_fts(rowid, subject, body, ticket_id) "
               f"VALUES (new.id, new.subject, {new}, new.ticket_id); END")
    op.execute("CREATE TRIGGER articles_fts_ad AFTER DELETE ON articles BEGIN "
               "INSERT INTO articles_fts(articles_fts, rowid, subject, body, ticket_id) "
               f"VALUES ('delete', old.id, old.subject, {old}, old.ticket_id); END")
    op.execute("CREATE TRIGGER articles_fts_au AFTER UPDATE OF subject, body, ticket_id "
               "ON articles BEGIN "
               "INSERT INTO articles_fts(articles_fts, rowid, subject, body, ticket_id) "
               f"VALUES ('delete', old.id, old.subject, {old}, old.ticket_id); "
               "INSERT INTO articles_fts(rowid, subject, body, ticket_id) "
               f"VALUES (new.id, new.subject, {new}, new.ticket_id); END")


def _drop() -> None:
    for trigger in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS articles_fts")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _drop()
    op.execute("CREATE VIEW articles_fts_text AS SELECT id, subject, "
               f"substr(body, 1, {SEARCH_CHARS}) AS body, ticket_id FROM articles")
    _fts("articles_fts_text", f"substr({{row}}.body, 1, {SEARCH_CHARS})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _drop()
    op.execute("DROP VIEW IF EXISTS articles_fts_text")
    _fts("articles", "{row}.body")
