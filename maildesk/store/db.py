"""The database: engine set-up per backend, and the one owner of sessions and transactions.

SQLite runs in WAL mode with synchronous=FULL (a commit reported is a commit kept) and
takes its write lock at BEGIN (BEGIN IMMEDIATE), so two processes delivering at once wait
for each other instead of failing on a lock upgrade. Reads (`Database.reading`) begin
DEFERRED on connections of their own, query_only: on WAL they never wait for a writer nor
make one wait.

PostgreSQL (psycopg 3) and MariaDB/MySQL (PyMySQL) run at READ COMMITTED: row locks and the
tickets' version column keep writers apart, and `retry_conflicts` re-runs a transaction that
lost a race (a stale version, a serialization failure, a deadlock) instead of failing a mail.
"""

from __future__ import annotations

import functools
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from sqlalchemy import CursorResult, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from maildesk.store import lean, rollup  # rollup: ticket counts kept on every flush

__all__ = [
    "Database",
    "TRANSIENT_ERRORS",
    "deferred_inserts",
    "drop_deferred",
    "execute_core",
    "insert_ignore",
    "insert_ignore_statement",
    "insert_later",
    "write_deferred",
    "rowcount",
    "is_conflict",
    "normalise_url",
    "retry_conflicts",
]

log = logging.getLogger("maildesk.db")
T = TypeVar("T")

# Errors that mean "the database is not there right now", not "this mail is bad".
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
)

# Lost a race with another transaction; running the whole transaction again is the cure.
PG_CONFLICTS = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
MYSQL_CONFLICTS = frozenset({1213, 1205})  # ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
CONNECT_TIMEOUT = 5  # seconds: a database that is away must not hold an SMTP session long
MYSQL_PACKET_WANTED = 64 * 1024 * 1024  # a 25 MiB mail plus headroom, as one INSERT


def is_conflict(exc: BaseException) -> bool:
    """True for errors that a retry of the same transaction can cure."""
    if isinstance(exc, StaleDataError):
        return True
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        if getattr(orig, "sqlstate", None) in PG_CONFLICTS:
            return True
        args = getattr(orig, "args", ())
        if args and isinstance(args[0], int) and args[0] in MYSQL_CONFLICTS:
            return True
    return False


def retry_conflicts(work: Callable[[], T], *, attempts: int = 5, pause: float = 0.02) -> T:
    """Run `work` (one whole transaction) again when it lost a race, with jittered backoff.

    `work` must open and commit its own transaction, so each attempt starts afresh and
    re-reads what the winner committed. The last failure propagates unchanged; a deadlock
    or lock timeout is an OperationalError and then counts as transient (spooled)."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except Exception as exc:
            if attempt >= attempts or not is_conflict(exc):
                raise
            log.info("transaction lost a race (%s), retry %d/%d",
                     type(exc).__name__, attempt, attempts - 1)
            time.sleep(random.uniform(0, pause * 2**attempt))
    raise AssertionError("unreachable")


def insert_ignore(session: Session, table: Any, **values: Any) -> bool:
    """INSERT a row unless its key exists; True when inserted. One statement on every
    backend (ON CONFLICT DO NOTHING / INSERT IGNORE), where a savepoint and a caught
    IntegrityError cost three round trips and a flush."""
    stmt = _insert_ignore(session.get_bind().dialect.name, table.__table__)
    return bool(rowcount(execute_core(session, stmt, values)))


def insert_ignore_statement(session: Session, table: Any) -> Any:
    """The cached statement `insert_ignore` runs, for `insert_later`."""
    return _insert_ignore(session.get_bind().dialect.name, table.__table__)


_DEFERRED = "maildesk.deferred_inserts"  # session.info: statement -> rows still to write


@contextmanager
def deferred_inserts(session: Session) -> Iterator[None]:
    """Within the block, `insert_later` keeps rows and the block's end writes them: one
    executemany per statement instead of one round trip per row (issue 20: a mail's
    history and Message-ID rows were 7.5 of its 22 statements). Any other statement the
    session runs meanwhile (a SELECT, an UPDATE) writes them first, so every read in the
    transaction still sees them. On an exception they are dropped: the caller's
    transaction or savepoint rolls back what they belonged to."""
    if _DEFERRED in session.info:  # nested: the outer block writes them
        yield
        return
    session.info[_DEFERRED] = {}
    try:
        yield
        write_deferred(session)
    finally:
        session.info.pop(_DEFERRED, None)


def insert_later(session: Session, statement: Any, row: dict[str, Any]) -> bool:
    """Keep `row` for `statement` (a cached Core INSERT whose result nobody reads) when a
    `deferred_inserts` block is open; False when not: the caller executes it now."""
    pending: dict[Any, list[dict[str, Any]]] | None = session.info.get(_DEFERRED)
    if pending is None:
        return False
    pending.setdefault(statement, []).append(row)
    return True


def write_deferred(session: Session) -> None:
    """Write the rows `insert_later` kept, in the order their statements first came."""
    pending: dict[Any, list[dict[str, Any]]] | None = session.info.get(_DEFERRED)
    while pending:
        statement = next(iter(pending))
        rows = pending.pop(statement)
        lean.execute(lean.connection_of(session), statement, rows if len(rows) > 1 else rows[0])


def drop_deferred(session: Session) -> None:
    """Forget the rows `insert_later` kept: a savepoint that rolls back takes its rows
    along, also those not written yet (`core.commands.run_block` writes the rows before
    its savepoint begins, so whatever is kept when it rolls back is the block's)."""
    pending: dict[Any, list[dict[str, Any]]] | None = session.info.get(_DEFERRED)
    if pending:
        pending.clear()


def _write_before(state: ORMExecuteState) -> None:
    """Session event: deferred rows are written before any statement but an INSERT."""
    if not state.is_insert and state.session.info.get(_DEFERRED):
        write_deferred(state.session)


def execute_core(session: Session, statement: Any, params: Any = None) -> Any:
    """A cached Core statement on the session's connection, past `Session.execute`'s ORM
    layer (statement coercion, option merging, the `do_orm_execute` event: a fifth of a
    small statement's cost, issue 20). The same transaction, and the same order: rows
    `insert_later` kept are written before anything but an INSERT, as `_write_before`
    does for statements through the session. Not for ORM statements (no autoflush)."""
    if not statement.is_insert and session.info.get(_DEFERRED):
        write_deferred(session)
    return lean.execute(lean.connection_of(session), statement, params)  # on its cursor


def rowcount(result: Any) -> int:
    """Rows an UPDATE/INSERT touched: `Session.execute` is typed as returning a plain
    `Result`, while DML returns a `CursorResult`, which has the count."""
    if not isinstance(result, CursorResult | lean.LeanResult):
        raise TypeError(f"not a DML result: {type(result).__name__}")
    return int(result.rowcount)


@functools.cache
def _insert_ignore(dialect: str, table: Any) -> Any:
    """Built once per table: a statement with bound parameters is compiled once and then
    found in SQLAlchemy's cache, where `.values(...)` made a new statement every time."""
    # preserve_rowcount: an INSERT's row count is kept only when asked for; psycopg's was
    # -1, so on PostgreSQL every call said "inserted", a conflict too.
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing().execution_options(
            preserve_rowcount=True)
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing().execution_options(
            preserve_rowcount=True)
    from sqlalchemy import insert

    return insert(table).prefix_with("IGNORE").execution_options(preserve_rowcount=True)


def normalise_url(url: str) -> str:
    """Pick the drivers we ship when the URL names none (`postgresql://`, `mysql://`)."""
    if url.startswith("sqlite"):
        return url
    parsed = make_url(url)
    driver = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
              "mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}.get(parsed.drivername)
    if driver is None:
        return url
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        self.engine = _make_engine(self.url, echo=echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        rollup.install(self._sessions)
        event.listen(self._sessions, "do_orm_execute", _write_before)
        # SQLite has one writer. Threads of this process queue on a lock of ours, which
        # wakes the next one the moment the last commits; left to SQLite, a waiting thread
        # polls with sleeps of up to 100 ms (its busy handler): the p99 of ingest. Other
        # processes (a `deliver` beside the daemon) still meet SQLite's busy timeout.
        self._writer = threading.RLock() if self.url.startswith("sqlite") else nullcontext()
        # Readers never queue behind writers: on a SQLite file they have an engine of their
        # own whose transactions begin DEFERRED and are query_only, so a `tickets` listing
        # (or the web, the API) reads a WAL snapshot and never holds SQLite's write lock nor
        # our writer lock. (An in-memory database is one connection's: it shares.)
        self.read_engine = self.engine
        if self.url.startswith("sqlite") and sqlite_path(self.url) is not None:
            self.read_engine = _make_engine(self.url, echo=echo, reader=True)
        self._readers = sessionmaker(self.read_engine, expire_on_commit=False)
        self._shared = threading.local()  # `one_read`'s session, per thread

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The session factory, for hooks that follow every transaction (timers)."""
        return self._sessions

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits when the block ends, rolls back on any exception."""
        with self._writer:
            session = self._sessions()
            try:
                with session.begin():
                    yield session
            finally:
                session.close()

    def run(self, work: Callable[[Session], T], *, attempts: int = 5) -> T:
        """`work` in one transaction, run again if it lost a race with another writer."""

        def once() -> T:
            with self.transaction() as session:
                return work(session)

        return retry_conflicts(once, attempts=attempts)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction: no writer lock, never blocks or waits for a writer
        on WAL; it sees the database as of its first read. Inside `one_read` on this
        thread: that block's transaction."""
        shared = getattr(self._shared, "session", None)
        if shared is not None:
            yield shared
            return
        if self.read_engine is self.engine:
            with self._writer:  # in-memory SQLite: one connection, shared with writers
                session = self._sessions()
                try:
                    yield session
                finally:
                    session.rollback()
                    session.close()
            return
        session = self._readers()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    @contextmanager
    def one_read(self) -> Iterator[None]:
        """Every `reading()` of this thread inside the block shares one read transaction
        (one snapshot; one BEGIN and ROLLBACK, ~0.1 ms each through the session): an API
        read's token check and its query (issue 15). No write inside it (an in-memory
        database's reader is the writer's connection)."""
        if getattr(self._shared, "session", None) is not None:
            yield
            return
        with self.reading() as session:
            self._shared.session = session
            try:
                yield
            finally:
                self._shared.session = None

    def create(self) -> None:
        """Make the SQLite file (and its folder) when missing; `init` and `migrate` do."""
        path = sqlite_path(self.url)
        if path is not None and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            sqlite3.connect(path).close()

    def has_schema(self) -> bool:
        return inspect(self.engine).has_table("tickets")

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///` URL; None for other backends and in-memory databases."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[1].split("?", 1)[0] if "///" in url else ""
    return Path(path) if path and path != ":memory:" else None


def _make_engine(url: str, *, echo: bool, reader: bool = False, **pool: Any) -> Engine:
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            # Open, never create: a database missing (a volume not mounted yet) must be an
            # error, not a new empty database in its place. `create()` makes the file.
            url = f"sqlite:///file:{quote(str(path))}?mode=rw&uri=true"  # %, #, ? in paths
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        engine = create_engine(url, **kwargs)
        _sqlite_pragmas(engine, reader=reader)
        return engine
    kwargs["pool_pre_ping"] = True
    kwargs.update(pool)
    if url.startswith("mysql") or url.startswith("mariadb"):
        kwargs["isolation_level"] = "READ COMMITTED"
        kwargs["pool_recycle"] = 3600
        # PyMySQL refuses to send more than 16 MiB by default; the server has its own
        # limit (max_allowed_packet), checked once below.
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT, "charset": "utf8mb4",
                                  "max_allowed_packet": 1024 * 1024 * 1024}
        engine = create_engine(url, **kwargs)
        _mysql_checks(engine)
        return engine
    if url.startswith("postgresql"):
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
    return create_engine(url, **kwargs)


def _mysql_checks(engine: Engine) -> None:
    """Warn once when the server would refuse a large mail in `database` article mode."""

    @event.listens_for(engine, "first_connect")
    def _on_first(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute("SELECT @@max_allowed_packet")
            row = cur.fetchone()
        finally:
            cur.close()
        if row and int(row[0]) < MYSQL_PACKET_WANTED:
            log.warning("MariaDB/MySQL max_allowed_packet is %d bytes: a mail larger than "
                        "that cannot be stored in the database (set max_allowed_packet=64M)",
                        int(row[0]))


def _sqlite_pragmas(engine: Engine, *, reader: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        if reader:  # WAL is set by the writers; a reader must not try to take the lock
            cur.execute("PRAGMA query_only=ON")
        else:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN" if reader else "BEGIN IMMEDIATE")
