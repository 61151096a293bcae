"""Database errors sorted by their cause, not by their class: SQLAlchemy wraps "connection
refused" and "no such table" alike in `OperationalError`, yet the first is worth a retry
(the mail is spooled or answered 451) and the second is a bug or a missing migration that
no retry cures (the mail goes to `spool/failed`, the log says why).

    transient: the server is away, refused or dropped the connection, timed out, is
               shutting down, has too many connections; SQLite busy or locked; a lost race
    permanent: no such table or column, syntax, permissions, constraint, data too long,
               and anything not recognised below (a bug shows rather than retrying forever)
"""

from __future__ import annotations

import errno

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError
from sqlalchemy.orm.exc import StaleDataError

__all__ = ["is_transient", "is_transient_db_error"]

# PostgreSQL SQLSTATE: connection exceptions (08...), insufficient resources (53...),
# operator intervention (57P01-57P05: shutdown, cannot connect now), lock not available,
# query cancelled (statement_timeout), serialization failure and deadlock.
_PG_TRANSIENT_CLASSES = ("08", "53")
_PG_TRANSIENT = frozenset({"57P01", "57P02", "57P03", "57P04", "57P05", "55P03", "57014",
                           "40001", "40P01"})
# MySQL/MariaDB error numbers: client-side connection failures (2002 can't connect, 2003
# refused, 2006 gone away, 2013 lost during query, 2055 lost at handshake), too many
# connections, shutdown in progress, lock wait timeout, deadlock, query timeout, read-only.
_MYSQL_TRANSIENT = frozenset({2002, 2003, 2005, 2006, 2013, 2055, 1040, 1053, 1077, 1205,
                              1213, 3024, 1969, 1927, 4031})
# SQLite: the words of its result codes (sqlite3 raises OperationalError with the text).
_SQLITE_TRANSIENT = ("database is locked", "database is busy", "database table is locked",
                     "unable to open database file", "disk i/o error",
                     "database or disk is full", "attempt to write a readonly database")


def is_transient_db_error(exc: BaseException) -> bool:
    """True when the error says the database is away or busy right now."""
    if isinstance(exc, (DisconnectionError, StaleDataError)):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate[:2] in _PG_TRANSIENT_CLASSES or sqlstate in _PG_TRANSIENT
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0] in _MYSQL_TRANSIENT
    message = str(orig).lower()
    if type(orig).__module__.startswith("sqlite3"):
        return any(words in message for words in _SQLITE_TRANSIENT)
    # psycopg raises OperationalError without a SQLSTATE when it never reached the server
    # (refused, unknown host, timeout): that is the database away.
    return isinstance(exc, InterfaceError) or (
        type(orig).__name__ == "OperationalError" and sqlstate is None
        and type(orig).__module__.startswith("psycopg"))


# Errors of the machine, not of the mail: a full disk, a dead device, too many files open.
_RESOURCE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM,
                    errno.EMFILE, errno.ENFILE}


def is_transient(exc: BaseException) -> bool:
    """Worth a retry later: the database is away or busy, or the disk cannot take it."""
    if is_transient_db_error(exc):  # by cause: "no such table" is not "away"
        return True
    return isinstance(exc, OSError) and exc.errno in _RESOURCE_ERRNOS
