"""Alembic environment: the URL and connection come from maildesk, never from an ini file."""

from __future__ import annotations

from alembic import context

import maildesk.store.rollup  # noqa: F401  (its table: ticket_counts)
import maildesk.store.segments  # noqa: F401  (its table: article_segments)
from maildesk.store.models import Base
from maildesk.store.search import SEARCH_OBJECTS


def include_name(name: str | None, kind: str, parent: object) -> bool:
    """Full-text tables and indexes differ per backend and are not in the models."""
    return not SEARCH_OBJECTS.match(name or "")


config = context.config
connection = config.attributes.get("connection")

if connection is None:
    from sqlalchemy import create_engine

    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata,
                      include_name=include_name)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()
