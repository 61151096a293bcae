"""What every admin command shares: the config (file:line errors, exit 78), the App, the
schema check, and `Exit`, which ends a command with a sysexits code."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, Protocol

from maildesk.outcome import EX_CONFIG, EX_TEMPFAIL

if TYPE_CHECKING:
    from maildesk.app import App
    from maildesk.config import Config
    from maildesk.store.db import Database


class HasDatabase(Protocol):
    """An App, or a command's lighter holder of the database alone."""

    @property
    def db(self) -> Database: ...

__all__ = ["Exit", "app_for", "check_files", "check_schema", "load"]

log = logging.getLogger("maildesk")


class Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def load(args: argparse.Namespace) -> Config:
    from maildesk.config import ConfigError, find_config, load_config

    path = find_config(args.config)
    try:
        return load_config(path)
    except FileNotFoundError:
        print(f"maildesk: no config at {path} (run `maildesk init`)", file=sys.stderr)
    except ConfigError as exc:
        for message in exc.messages:
            print(message, file=sys.stderr)
    raise Exit(EX_CONFIG)


def app_for(args: argparse.Namespace, *, need_schema: bool = True) -> App:
    from maildesk.app import open_app

    app = open_app(load(args))
    if need_schema:
        check_schema(app)
    return app


def check_schema(app: HasDatabase, *, away_ok: bool = False) -> None:
    """Refuse to work on a database at another schema revision than this code's (exit 78;
    `deliver` turns every refusal into 75 so the MTA keeps the mail). A database that does
    not answer is 75, or with `away_ok` (serve, which spools) only a warning."""
    from maildesk.store.dberrors import is_transient_db_error
    from maildesk.store.schema import schema_problem

    try:
        problem = schema_problem(app.db)
    except Exception as exc:
        if not is_transient_db_error(exc):
            print(f"maildesk: the database refuses: {getattr(exc, 'orig', exc)}",
                  file=sys.stderr)
            raise Exit(EX_CONFIG) from exc
        if away_ok:
            log.warning("database unavailable at start-up (%s): mail will be spooled",
                        getattr(exc, "orig", exc))
            return
        print(f"maildesk: cannot open the database: {getattr(exc, 'orig', exc)}",
              file=sys.stderr)
        raise Exit(EX_TEMPFAIL) from exc
    if problem is not None:
        print(f"maildesk: {problem}", file=sys.stderr)
        raise Exit(EX_CONFIG)


def check_files(config: Config) -> None:
    """The files the config names (the instance secret): missing ones are exit 78."""
    from maildesk.config.files import file_problems

    problems = file_problems(config)
    for message in problems:
        print(message, file=sys.stderr)
    if problems:
        raise Exit(EX_CONFIG)
