"""Is the database's schema the one this code was written for? `serve` and `deliver` ask at
start and refuse to run on a database that was never migrated or is at another revision:
without the check such a database passed for "away", mail was answered 250 and then parked.

The head is read from the revision files themselves (a few small reads), not through
Alembic's script machinery, which costs `deliver` a second of start-up per mail;
`tests/db/test_schema_check.py` holds the two to the same answer.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from sqlalchemy import text

from maildesk.store.db import Database

__all__ = ["head_revision", "current_revision", "schema_problem"]

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"
_ASSIGN = r"^{name}(?:\s*:[^=\n]+)?\s*=\s*(.+)$"
_QUOTED = re.compile(r"""["']([^"']+)["']""")


@functools.cache
def head_revision() -> str:
    """The newest revision: the one no other revision names as its `down_revision`."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        rev = re.search(_ASSIGN.format(name="revision"), source, re.M)
        down = re.search(_ASSIGN.format(name="down_revision"), source, re.M)
        if rev is None:
            continue
        revisions.update(_QUOTED.findall(rev.group(1))[:1])
        if down is not None:
            parents.update(_QUOTED.findall(down.group(1)))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def current_revision(db: Database) -> str | None:
    """The revision recorded in the database; None when it has no schema at all."""
    from sqlalchemy import inspect

    with db.reading() as session:
        if not inspect(session.connection()).has_table("alembic_version"):
            return None
        return session.execute(text("SELECT version_num FROM alembic_version")).scalar()


def schema_problem(db: Database) -> str | None:
    """What is wrong with the schema, in words naming the cure; None when it is current.
    Database errors (away, refused) propagate for the caller to classify."""
    current = current_revision(db)
    head = head_revision()
    if current == head:
        return None
    if current is None:
        return ("the database has no maildesk schema: run `maildesk migrate` "
                f"(it creates revision {head})")
    return (f"the database schema is at revision {current}, this maildesk needs {head}: "
            "run `maildesk migrate`" + ("" if _known(current) else
                                          " (or this maildesk is older than the database)"))


def _known(revision: str) -> bool:
    return any(f'"{revision}"' in p.read_text(encoding="utf-8")
               or f"'{revision}'" in p.read_text(encoding="utf-8")
               for p in VERSIONS.glob("*.py"))
