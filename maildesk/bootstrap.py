"""The composition root: the one place that builds a `Runtime` from a config.

`build` makes the first runtime of a process (the CLI, `deliver`, `serve`); `rebuild`
makes the next one on a reload, keeping the database (and its pool) when the URL did not
change. Whoever holds the current runtime swaps it with one assignment, so every mail and
request that captured the old one finishes on it, and the next ones start on the new one.
"""

from __future__ import annotations

from maildesk.config import Config
from maildesk.runtime import Runtime, Spools
from maildesk.store.articles import ArticleStore, make_dirs_durably
from maildesk.store.db import Database

__all__ = ["build", "rebuild"]


def build(config: Config, db: Database | None = None, *, make_dirs: bool = False) -> Runtime:
    """A runtime for `config`; `make_dirs` creates the data folder first (durably)."""
    if make_dirs:
        make_dirs_durably(config.storage.path)
    return Runtime(config=config,
                   store=ArticleStore(config.storage.path, config.storage.articles),
                   spools=Spools.under(config.storage.path),
                   db=db or Database(config.database))


def rebuild(current: Runtime, config: Config) -> Runtime:
    """The runtime after a reload: a new database only when its settings changed (the
    caller disposes of the old one once nothing uses it)."""
    db = current.db if config.database == current.config.database else None
    return build(config, db)
