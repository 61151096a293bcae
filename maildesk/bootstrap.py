"""The composition root: the one place that builds a `Runtime` from a config.

`build` makes the first runtime of a process (the CLI, `deliver`, `serve`); `rebuild`
makes the next one on a reload, keeping the database (and its pool) when the URL did not
change. Whoever holds the current runtime swaps it with one assignment, so every mail and
request that captured the old one finishes on it, and the next ones start on the new one.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from pathlib import Path

from maildesk.config import Config, Listen
from maildesk.runtime import Runtime, Spools
from maildesk.store.articles import ArticleStore, make_dirs_durably
from maildesk.store.db import Database

__all__ = ["build", "load_for_reload", "rebuild"]

log = logging.getLogger("maildesk.daemon")


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


def load_for_reload(path: Path, current: Config,
                    make_tls_context: Callable[[Listen], ssl.SSLContext | None]
                    ) -> tuple[Config, ssl.SSLContext | None] | None:
    """The config file read again with its TLS context, or None (logged, with `file:line`
    for each problem) when it fails a check: an admin's typo never replaces the config in
    force. Blocking: run it off the event loop."""
    from maildesk.config import ConfigError, load_config

    try:
        config = load_config(path)
        tls = make_tls_context(config.listen)
    except ConfigError as exc:
        log.error("reload refused, the config in force stays: %d problem(s)",
                  len(exc.messages))
        for message in exc.messages:
            log.error("%s", message)
        return None
    except (OSError, ssl.SSLError) as exc:
        log.error("reload refused, the config in force stays: %s", exc)
        return None
    old = current.listen
    if (config.listen.smtp, config.listen.lmtp, config.listen.http, config.listen.socket) != (
            old.smtp, old.lmtp, old.http, old.socket):
        log.warning("listen addresses changed in %s: they take effect at restart", path)
    return config, tls
