"""A CRM's customer table, read only: maps its columns (`email`, `full_name`, `org` ...)
into CustomerRecord.

The CRM database is never written: the connection itself is read-only (SQLite opened with
`mode=ro` and `query_only`, PostgreSQL sessions with `default_transaction_read_only`,
MariaDB/MySQL with `SET SESSION TRANSACTION READ ONLY`), and the one statement is a SELECT
built by SQLAlchemy with quoted names and the address as a bound parameter (no SQL is ever
put together from an address). Every failure is BackendDown; the cache in front
(maildesk.customers.cache) decides what that means for the mail.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import (
    Engine,
    Select,
    bindparam,
    column,
    create_engine,
    event,
    func,
    select,
    table,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from maildesk.config.customers import CustomerBackend
from maildesk.customers.record import BackendDown, CustomerRecord, usable_address

__all__ = ["SqlBackend", "truthy"]

_TRUE = {"1", "t", "true", "y", "yes", "on"}


def truthy(value: Any) -> bool:
    """A CRM's idea of yes: booleans, 1, 'true', 'yes', 'Y' ..."""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    text = str(value).strip()
    return text or None


class SqlBackend:
    """Blocking lookups by address (case-insensitive) in one table of a CRM database."""

    def __init__(self, cfg: CustomerBackend) -> None:
        self.name = cfg.label
        self.fields = dict(cfg.columns)
        self.engine = read_only_engine(cfg.url, cfg.password_file, cfg.timeout)
        schema, _, name = (cfg.table or "").rpartition(".")
        crm = table(name, *(column(c) for c in dict.fromkeys(self.fields.values())),
                    schema=schema or None)
        self.statement: Select[Any] = (
            select(*(crm.c[c].label(f) for f, c in self.fields.items()))
            .where(func.lower(crm.c[self.fields["address"]]) == bindparam("address"))
            .limit(1)
        )

    def lookup(self, address: str) -> CustomerRecord | None:
        usable = usable_address(address)
        if usable is None:
            return None
        address = usable
        try:
            with self.engine.connect() as conn:
                row = conn.execute(self.statement, {"address": address}).mappings().first()
        except SQLAlchemyError as exc:
            raise BackendDown(_short(exc)) from exc
        if row is None:
            return None
        return CustomerRecord(
            address=(_text(row["address"]) or address).lower(),
            name=_text(row.get("name")),
            company=_text(row.get("company")),
            language=_text(row.get("language")),
            password_hash=_text(row.get("password_hash")),
            company_admin=truthy(row.get("company_admin")),
            source="sql",
        )

    def close(self) -> None:
        self.engine.dispose()


def read_only_engine(url: str, password_file: Path | None, timeout: float) -> Engine:
    """An engine whose every connection refuses writes, bounded by `timeout` seconds. One
    round trip per lookup: autocommit (no BEGIN/ROLLBACK) and no pre-ping (a dropped
    connection fails one lookup, "unknown for now", and is replaced by the pool)."""
    parsed = make_url(url)
    if password_file is not None:
        password = password_file.read_text(encoding="utf-8").splitlines()
        parsed = parsed.set(password=password[0] if password else "")
    backend = parsed.get_backend_name()
    wait = max(1, round(timeout))
    if backend == "sqlite":
        path = parsed.database or ""
        if not path or path == ":memory:":
            raise ValueError("a SQLite CRM needs a file: sqlite:///path/to/crm.db")
        uri = f"file:{quote(str(Path(path).absolute()))}?mode=ro"

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
            conn.execute("PRAGMA query_only = ON")
            return conn

        return create_engine("sqlite://", creator=connect, isolation_level="AUTOCOMMIT")
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        options = (f"-c default_transaction_read_only=on "
                   f"-c statement_timeout={int(timeout * 1000)}")
        return create_engine(
            parsed, isolation_level="AUTOCOMMIT", pool_size=4, max_overflow=4,
            connect_args={"options": options, "connect_timeout": wait},
        )
    if backend in ("mysql", "mariadb"):
        if parsed.drivername in ("mysql", "mariadb"):
            parsed = parsed.set(drivername=f"{parsed.drivername}+pymysql")
        engine = create_engine(
            parsed, isolation_level="AUTOCOMMIT", pool_size=4, max_overflow=4,
            pool_recycle=3600,
            connect_args={"connect_timeout": wait, "read_timeout": wait},
        )

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
            cursor.close()

        return engine
    raise ValueError(f"unsupported CRM database {backend!r} (sqlite, postgresql, mysql)")


def _short(exc: SQLAlchemyError) -> str:
    """The driver's message without SQLAlchemy's statement dump and link."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
