"""The runtime: everything one mail or one request works with, frozen together.

`maildesk.bootstrap` builds it (the one composition root) and a reload builds a new one and
swaps it with one assignment, so a piece of work that captured a `Runtime` sees one config,
one database and one article store from start to end, never half of an old and half of a
new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from maildesk.config import Config
from maildesk.intake.spool import Spool
from maildesk.store.articles import ArticleStore
from maildesk.store.db import Database

__all__ = ["RUNTIME_KEY", "Runtime", "Spools", "read_secret"]

# Where a transaction notes the runtime its work took (`Session.info`), for the hooks that
# run at its commit (maildesk.timers.hooks) to read the same config.
RUNTIME_KEY = "maildesk.runtime"


@dataclass(frozen=True)
class Spools:
    """The durable mail spools under the data folder."""

    inbound: Spool  # accepted while the database was away, drained in order
    failed: Spool  # hit a bug; kept for `maildesk spool retry`
    unmatched: Spool  # bounces that match no ticket

    @classmethod
    def under(cls, data: Path) -> Spools:
        root = data / "spool"
        return cls(Spool(root / "inbound"), Spool(root / "failed"), Spool(root / "unmatched"))


@dataclass(frozen=True)
class Runtime:
    """Config, database, article store and spools of one moment; `secret` is read from
    `instance.secret_file` on first use (commands that never sign, such as
    `check-config`, run without one) and kept for this runtime's life."""

    config: Config
    store: ArticleStore
    spools: Spools
    db: Database

    @cached_property
    def secret(self) -> bytes:
        return read_secret(self.config.instance.secret_file)


def read_secret(path: Path) -> bytes:
    """The instance secret for reply tokens (`maildesk init` writes it). Missing or empty
    raises: an empty key would make every reply token fail, silently."""
    secret = path.read_bytes().strip()
    if not secret:
        raise ValueError(f"the instance secret {path} is empty")
    return secret
