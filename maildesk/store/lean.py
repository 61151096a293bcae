"""Cached Core statements straight to the DBAPI cursor of the session's connection.

`Connection.execute` spends ~80 us of Python on a small cached statement around the
driver's own ~15 us (issue 20): execution options, the compiled form's cache look-up, an
execution context, `construct_params`, bind processors through dicts, a `CursorResult`.
Here a statement is compiled once per (statement, dialect, parameter keys), as
SQLAlchemy's cache would, keeping what a run needs: the SQL, the parameters in the
driver's order with their defaults and bind processors, the result columns' processors,
and the compiled form's own primary-key getters.

It runs on the very DBAPI connection of the session's `Connection` (its transaction and
savepoints); a driver error goes through the connection's `_handle_dbapi_exception` (the
same wrapping, disconnect check, `handle_error` events). Cursor events are fired when
listened to (`context=None`); a statement-level listener (`before_execute`, the dialect's
`do_execute`), echo, or anything the plan does not cover (expanding IN, literal binds,
callable defaults, INSERT..RETURNING of several rows) goes the usual way: `run` answers
None and the caller executes it.
"""

from __future__ import annotations

import datetime
import operator
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn, cast

from sqlalchemy import Connection, Delete, Insert, Select, Update
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.result import result_tuple
from sqlalchemy.exc import MultipleResultsFound, NoResultFound, ResourceClosedError
from sqlalchemy.orm import Session
from sqlalchemy.orm.session import SessionTransactionState

__all__ = ["LeanResult", "bind_processor", "connection_of", "driver_rows", "execute", "run"]

_MAX_PLANS = 512  # statements are module constants; a caller building new ones goes past
_plans: dict[tuple[Any, ...], _Plan | None] = {}
_plans_lock = threading.Lock()
_MISSING = object()
_ACTIVE = SessionTransactionState.ACTIVE
_LEAN_TYPES = (Insert, Update, Delete, Select)


class _Plan:
    """What one run of a compiled statement needs, worked out once."""

    __slots__ = ("sql", "binds", "positional", "sequence", "is_insert", "rows",
                 "processors", "make_row", "implicit", "pk_from_row", "pk_from_lastrowid",
                 "lastrowid", "take", "names", "processed", "pk_at")

    def __init__(self, compiled: Any, dialect: Dialect, many: bool) -> None:
        self.sql: str = compiled.string
        self.positional: bool = bool(compiled.positional)
        self.sequence: Callable[[list[Any]], Sequence[Any]] = dialect.execute_sequence_format
        processors = compiled._bind_processors
        escaped = compiled.escaped_bind_names or {}
        prefetch = {col.key: col for col in
                    list(compiled.insert_prefetch) + list(compiled.update_prefetch)}
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        order = compiled.positiontup if self.positional else list(by_name)
        binds = []
        for name in order:
            bind = by_name[name]
            default = bind.effective_value if bind.callable else bind.value
            required = bool(bind.required)
            column = prefetch.get(name)
            if column is not None:  # a column the INSERT/UPDATE leaves to its default
                default, required = column.default.arg, False
            # (the parameter's key, its name in the SQL, default, required, processor)
            binds.append((bind.key, escaped.get(name, name), name, default, required,
                          bind_processor(bind.type, dialect, processors.get(name))))
        self.binds: tuple[tuple[str, str, str, Any, bool, Any], ...] = tuple(binds)
        keys = [b[0] for b in binds]  # `parameters`' usual run: every key given, taken in C
        self.take: Any = operator.itemgetter(*keys) if len(keys) > 1 else None
        self.names = tuple(b[1] for b in binds)  # in the SQL
        self.processed = tuple((n, b[5]) for n, b in enumerate(binds) if b[5] is not None)
        self.is_insert: bool = bool(compiled.isinsert) and not many
        keyed = {compiled._within_exec_param_key_getter(c) for c in  # what the key's getters
                 compiled.compile_state.statement.table.primary_key} if self.is_insert else ()
        self.pk_at = tuple((b[2], n) for n, b in enumerate(binds) if b[2] in keyed)
        statement = compiled.statement
        explicit = bool(getattr(statement, "_returning", ())) or isinstance(statement, Select)
        self.implicit: bool = bool(compiled.implicit_returning) and not explicit
        self.rows: bool = explicit
        columns = compiled._result_columns
        self.processors: tuple[Any, ...] | None = None
        self.make_row: Any = None
        if explicit or self.implicit:
            procs = tuple(c[3]._cached_result_processor(dialect, None) for c in columns)
            self.processors = procs if any(p is not None for p in procs) else None
            self.make_row = result_tuple([c[0] for c in columns])
        self.pk_from_row: Any = None
        self.pk_from_lastrowid: Any = None
        self.lastrowid: bool = False
        if self.is_insert:
            if self.implicit:
                self.pk_from_row = compiled._inserted_primary_key_from_returning_getter
            self.pk_from_lastrowid = compiled._inserted_primary_key_from_lastrowid_getter
            self.lastrowid = bool(compiled.postfetch_lastrowid)

    def parameters(self, params: dict[str, Any]) -> tuple[Sequence[Any] | dict[str, Any],
                                                           dict[str, Any] | None]:
        """The driver's parameters, and (a single INSERT) the values the key's getters read.
        All keys given (a plain dict, the usual run): taken at once (issue 20); else one by one."""
        taken, given = None, None
        if self.take is not None and type(params) is dict:  # no __missing__ to call
            try:
                taken = self.take(params)
            except KeyError:  # a key left to its default, or given by its bind name
                pass
        if taken is not None:
            values = list(taken)
            for n, processor in self.processed:
                values[n] = processor(values[n])
            if self.is_insert:
                given = {name: taken[n] for name, n in self.pk_at}
        else:
            values, given = [], {} if self.is_insert else None
            for key, _sql_name, name, default, required, processor in self.binds:
                value = params.get(key, _MISSING)
                if value is _MISSING:
                    value = params.get(name, _MISSING)
                    if value is _MISSING:
                        if required:
                            raise _Unplanned
                        value = default
                if given is not None:
                    given[name] = value
                values.append(value if processor is None else processor(value))
        if self.positional:
            return self.sequence(values), given
        return dict(zip(self.names, values, strict=True)), given

    def shape(self, raw: list[Any]) -> list[Any]:
        processors, make_row = self.processors, self.make_row
        if processors is None:
            return [make_row(r) for r in raw]
        return [make_row([v if p is None else p(v) for p, v in zip(processors, r, strict=True)])
                for r in raw]


# SQLAlchemy's SQLite DATETIME storage format (its default), which `isoformat` matches
_SQLITE_DATETIME = ("%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"
                    ".%(microsecond)06d")


def bind_processor(type_: Any, dialect: Dialect, processor: Any) -> Any:
    """`processor` (the type's bind processor on `dialect`), or for SQLite's DATETIME in
    its default format one giving the same text faster: SQLAlchemy's %-formats a dict of
    seven fields, ~2 us a value against `isoformat`'s ~0.7 (issue 20: ~15 a mail). A naive
    `datetime` takes the quick way; anything else (a date, aware, a subclass) the type's."""
    if processor is None or dialect.name != "sqlite":
        return processor
    from sqlalchemy.dialects import sqlite  # here: a PostgreSQL process never loads it

    impl = type_.dialect_impl(dialect)
    if type(impl) is not sqlite.DATETIME or impl._storage_format != _SQLITE_DATETIME:
        return processor
    exact = datetime.datetime

    def process(value: Any) -> Any:
        if type(value) is exact and value.tzinfo is None:
            return value.isoformat(" ", "microseconds")
        return processor(value)

    return process


class _Unplanned(Exception):
    """Something this plan does not cover: the statement goes the usual way."""


class LeanResult:
    """The part of `CursorResult` the callers of `execute_core` use: rows (as `Row`s,
    result processors applied), `rowcount`, `inserted_primary_key`."""

    __slots__ = ("rowcount", "_rows", "_pk", "returns_rows")

    def __init__(self, rowcount: int, rows: list[Any] | None, pk: Any) -> None:
        self.rowcount = rowcount
        self.returns_rows = rows is not None
        self._rows: list[Any] = rows if rows is not None else []
        self._pk = pk

    @property
    def inserted_primary_key(self) -> Any:
        if self._pk is None:
            raise AttributeError("inserted_primary_key: not a single-row INSERT")
        return self._pk

    def __iter__(self) -> Iterator[Any]:
        return iter(self.all())

    def all(self) -> list[Any]:
        if not self.returns_rows:  # as `CursorResult` says of an UPDATE's rows
            raise ResourceClosedError("This result object does not return rows.")
        rows, self._rows = self._rows, []
        return rows

    fetchall = all

    def fetchone(self) -> Any:
        rows = self.all()
        self._rows = rows[1:]
        return rows[0] if rows else None

    def first(self) -> Any:
        rows = self.all()
        return rows[0] if rows else None

    def scalar(self) -> Any:
        row = self.first()
        return None if row is None else row[0]

    def one_or_none(self) -> Any:
        rows = self.all()
        if len(rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when one or none was required")
        return rows[0] if rows else None

    def one(self) -> Any:
        row = self.one_or_none()
        if row is None:
            raise NoResultFound("No row was found when one was required")
        return row

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.all()]

    def close(self) -> None:
        self._rows = []


def _plan(statement: Any, dialect: Dialect, keys: tuple[str, ...], many: bool
          ) -> _Plan | None:
    key = (statement, dialect, keys, many)
    known = _plans.get(key, _MISSING)
    if known is not _MISSING:
        return cast(_Plan | None, known)
    plan: _Plan | None = None
    if isinstance(statement, _LEAN_TYPES) and not statement._propagate_attrs:
        try:
            compiled: Any = statement.compile(dialect=dialect, column_keys=sorted(keys),
                                              for_executemany=many)
        except Exception:  # the usual path raises it, as it always did
            compiled = None
        if compiled is not None and _plannable(compiled, many):
            plan = _Plan(compiled, dialect, many)
    with _plans_lock:
        if len(_plans) < _MAX_PLANS:
            _plans[key] = plan
    return plan


def _plannable(compiled: Any, many: bool) -> bool:
    """What the plan leaves to SQLAlchemy: parameters rendered per run, callable or SQL
    defaults computed per run, INSERT..RETURNING of several rows (insertmanyvalues)."""
    if (compiled.literal_execute_params or compiled.post_compile_params
            or getattr(compiled, "_collected_params", None) or compiled.schema_translate_map):
        return False
    for column in list(compiled.insert_prefetch) + list(compiled.update_prefetch):
        default = column.default
        if default is None or not default.is_scalar:
            return False
    if many and (compiled._insertmanyvalues or compiled.effective_returning
                 or isinstance(compiled.statement, Select)):
        return False
    return True


def execute(conn: Connection, statement: Any, params: Any = None) -> Any:
    """`conn.execute(statement, params)`: a `LeanResult`, or the usual path's result."""
    result = run(conn, statement, params)
    return result if result is not None else conn.execute(statement, params)


def run(conn: Connection, statement: Any, params: Any) -> LeanResult | None:
    """`statement` with `params` on `conn`'s DBAPI connection, or None: the caller runs it
    through `conn.execute` (something here is not covered)."""
    if params is None:
        rows: list[dict[str, Any]] = [{}]
    elif isinstance(params, dict):
        rows = [params]
    elif isinstance(params, list) and params and all(isinstance(r, dict) for r in params):
        rows = params
    else:
        return None
    if conn._echo or conn._execution_options:
        return None
    dispatch = conn.dispatch
    if (conn._has_events or conn.engine._has_events) and (
            dispatch.before_execute or dispatch.after_execute):
        return None
    dialect = conn.dialect
    if dialect._has_events and (dialect.dispatch.do_execute
                                or dialect.dispatch.do_executemany):
        return None
    many = len(rows) > 1
    plan = _plan(statement, dialect, tuple(rows[0]), many)
    if plan is None:
        return None
    try:
        if many:
            driver_params: Any = [plan.parameters(r)[0] for r in rows]
            given = None
        else:
            driver_params, given = plan.parameters(rows[0])
    except _Unplanned:  # a required parameter missing: SQLAlchemy says which
        return None
    except Exception as exc:  # a bind processor refused a value: a StatementError, as usual
        conn._handle_dbapi_exception(exc, plan.sql, params, None, None)
    return _execute(conn, plan, driver_params, given, many)


def connection_of(session: Session) -> Connection:
    """`session.connection()`: the connection an active transaction (or savepoint) holds,
    as `SessionTransaction._connection_for_bind`'s first line returns it, past its wrapper
    and context check (issue 20: ~2 us of its ~3, ~20 statements a mail); else (no
    transaction yet, a savepoint not begun, a closed one) the session's answer."""
    trans: Any = getattr(session, "_transaction", None)
    if trans is not None and getattr(trans, "_state", None) is _ACTIVE:
        context: Any = getattr(session, "_trans_context_manager", None)
        if context is None or context._transaction_is_active():
            held = getattr(trans, "_connections", {}).get(session.get_bind())
            if held is not None:
                return cast(Connection, held[0])
    return session.connection()


def driver_rows(conn: Connection, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
    """The rows `sql` (the driver's text, positional `params`) returns, on `run`'s cursor
    path, past `exec_driver_sql`'s ~60 us (issue 20): statements no plan covers (a multi-row
    INSERT..RETURNING, the caps' upsert). Cursor events or echo: `exec_driver_sql` runs it."""
    dispatch = conn.dispatch
    if dispatch.before_cursor_execute or dispatch.after_cursor_execute or conn._echo:
        return list(conn.exec_driver_sql(sql, tuple(params)))
    cursor: Any = None
    try:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(sql, params)
        made: list[Sequence[Any]] = cursor.fetchall()
        cursor.close()
    except BaseException as exc:
        _failed(conn, exc, sql, params, cursor)
    return made


def _failed(conn: Connection, exc: BaseException, sql: str, params: Any, cursor: Any) -> NoReturn:
    """A driver error through the connection's own handler (`_handle_dbapi_exception`: the
    same wrapped `IntegrityError`/`OperationalError`, the disconnect check), which raises."""
    if cursor is not None:
        try:
            cursor.close()
        except Exception:
            pass
    conn._handle_dbapi_exception(exc, sql, params, cursor, None)
    raise exc  # not reached: the handler raises


def _execute(conn: Connection, plan: _Plan, parameters: Any, given: dict[str, Any] | None,
             many: bool) -> LeanResult:
    sql = plan.sql
    dispatch = conn.dispatch
    events = dispatch.before_cursor_execute or dispatch.after_cursor_execute
    cursor: Any = None
    try:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        if events:
            for fn in dispatch.before_cursor_execute:
                sql, parameters = fn(conn, cursor, sql, parameters, None, many)
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        if events:
            for fn in dispatch.after_cursor_execute:
                fn(conn, cursor, sql, parameters, None, many)
        raw = cursor.fetchall() if (plan.rows or plan.implicit) else None
        rowcount = cursor.rowcount
        pk = None
        if plan.is_insert:
            if plan.implicit and raw:
                pk = plan.pk_from_row(plan.shape(raw)[0], given)
            elif plan.lastrowid:
                pk = plan.pk_from_lastrowid(cursor.lastrowid, given)
            else:
                pk = plan.pk_from_lastrowid(None, given)
        cursor.close()
    except BaseException as exc:
        _failed(conn, exc, sql, parameters, cursor)
    return LeanResult(rowcount, plan.shape(raw) if plan.rows and raw is not None else
                      ([] if plan.rows else None), pk)
