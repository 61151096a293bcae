"""search: full-text indexes over articles (FTS5, tsvector GIN, FULLTEXT); see
maildesk/store/search.py

Revision ID: 0008_search
Revises: 0007_api_tokens
"""

from __future__ import annotations

from alembic import op

revision = "0008_search"
down_revision = "0007_api_tokens"
branch_labels = None
depends_on = None

_TSV = "to_tsvector('simple', coalesce(subject, '') || ' ' || body)"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("CREATE VIRTUAL TABLE articles_fts USING fts5(subject, body, "
                   "ticket_id UNINDEXED, content='articles', content_rowid='id', "
                   "tokenize='unicode61 remove_diacritics 2')")
        op.execute("INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')")
        op.execute("CREATE TRIGGER articles_fts_ai AFTER INSERT ON articles BEGIN "
                   "INSERT INTO articles_fts(rowid, subject, body, ticket_id) "
                   "VALUES (new.id, new.subject, new.body, new.ticket_id); END")
        op.execute("CREATE TRIGGER articles_fts_ad AFTER DELETE ON articles BEGIN "
                   "INSERT INTO articles_fts(articles_fts, rowid, subject, body, ticket_id) "
                   "VALUES ('delete', old.id, old.subject, old.body, old.ticket_id); END")
        op.execute("CREATE TRIGGER articles_fts_au AFTER UPDATE OF subject, body, ticket_id "
                   "ON articles BEGIN "
                   "INSERT INTO articles_fts(articles_fts, rowid, subject, body, ticket_id) "
                   "VALUES ('delete', old.id, old.subject, old.body, old.ticket_id); "
                   "INSERT INTO articles_fts(rowid, subject, body, ticket_id) "
                   "VALUES (new.id, new.subject, new.body, new.ticket_id); END")
    elif dialect == "postgresql":
        op.execute(f"CREATE INDEX ix_articles_search ON articles USING gin ({_TSV})")
    else:
        # maildesk's MariaDB databases are utf8mb4_bin (exact addresses and Message-IDs),
        # under which FULLTEXT is case-sensitive: subject and body, compared by nothing
        # else, take a case-insensitive collation for the index.
        for column in ("subject", "body"):
            op.execute(f"ALTER TABLE articles MODIFY {column} TEXT "
                       "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL")
        op.execute("CREATE FULLTEXT INDEX ft_articles ON articles (subject, body)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("articles_fts_ai", "articles_fts_ad", "articles_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS articles_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_articles_search")
    else:
        op.execute("DROP INDEX ft_articles ON articles")
        for column in ("subject", "body"):
            op.execute(f"ALTER TABLE articles MODIFY {column} TEXT NOT NULL")  # table's own
