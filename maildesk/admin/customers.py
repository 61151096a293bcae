"""`maildesk customers [--json] [--company C]`, `customers import FILE.csv [--skip-bad]`,
`customers export` (SPEC 16): the customers table from the command line.

The import checks every row first (maildesk.customers.csvfile), then writes in one
transaction: with a bad row nothing is written (each named `FILE:LINE: reason`, exit 65
EX_DATAERR) unless `--skip-bad`, which writes the good rows and names the others. The
progress bar is tqdm's (a dependency already, for the other long commands; rich would add
a package for one bar), drawn on stderr and only when stderr is a terminal: a cron job or
a pipe gets the one summary line and nothing else.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from typing import TYPE_CHECKING

from maildesk.admin.base import check_schema, load
from maildesk.outcome import EX_OK

if TYPE_CHECKING:
    from maildesk.customers.csvfile import Parsed
    from maildesk.store.db import Database

__all__ = ["EX_DATAERR", "EX_NOINPUT", "add_parser", "run"]

EX_DATAERR = 65  # a bad row (sysexits)
EX_NOINPUT = 66  # the file cannot be opened


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    c = sub.add_parser("customers", help="list customers; import or export them as CSV")
    c.add_argument("--json", action="store_true")
    c.add_argument("--company", help="only the customers of this company")
    c_sub = c.add_subparsers(dest="customers_command", parser_class=parser_class)
    i = c_sub.add_parser("import", help="add or update customers from a CSV file "
                         "(address,name,company,language[,password_hash][,company_admin])")
    i.add_argument("file", help="the CSV file ('-': stdin)")
    i.add_argument("--skip-bad", action="store_true",
                   help="import the good rows even when some are bad (they are named)")
    c_sub.add_parser("export", help="every customer as CSV on stdout (import takes it back)")


class Desk:
    """What these commands need of the App: the database. The App's whole runtime (article
    store, spools, timers, outbound) cost a second of imports before any row was read."""

    def __init__(self, url: str) -> None:
        from maildesk.store.db import Database

        self.db: Database = Database(url)

    def close(self) -> None:
        self.db.dispose()


def run(args: argparse.Namespace) -> int:
    app = Desk(load(args).database)
    try:
        check_schema(app)
        if args.customers_command == "import":
            return _import(app, args.file, skip_bad=args.skip_bad)
        if args.customers_command == "export":
            return _export(app)
        return _list(app, company=args.company, as_json=args.json)
    finally:
        app.close()


def _list(app: Desk, *, company: str | None, as_json: bool) -> int:
    from sqlalchemy import select

    from maildesk.store.models import Customer

    query = select(Customer.address, Customer.name, Customer.company, Customer.language,
                   Customer.company_admin).order_by(Customer.address)
    if company is not None:
        query = query.where(Customer.company == company)
    with app.db.reading() as session:
        rows = [{"address": r.address, "name": r.name or "", "company": r.company,
                 "language": r.language, "company_admin": bool(r.company_admin)}
                for r in session.execute(query)]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    elif not rows:
        print("no customers")
    else:
        print(f"{'ADDRESS':<40} {'LANG':<6} {'COMPANY':<24} NAME")
        for r in rows:
            admin = " (company admin)" if r["company_admin"] else ""
            print(f"{str(r['address'])[:40]:<40} {r['language'] or '-':<6} "
                  f"{str(r['company'] or '-')[:24]:<24} {r['name']}{admin}")
    return EX_OK


def _export(app: Desk) -> int:
    from sqlalchemy import select

    from maildesk.customers.csvfile import write
    from maildesk.store.models import Customer

    query = select(Customer.address, Customer.name, Customer.company, Customer.language,
                   Customer.password_hash, Customer.company_admin).order_by(Customer.address)
    with app.db.reading() as session:
        rows = session.execute(query.execution_options(yield_per=2000))
        write(sys.stdout, (tuple(r) for r in rows))
    sys.stdout.flush()
    return EX_OK


def _import(app: Desk, path: str, *, skip_bad: bool) -> int:
    from maildesk.customers.csvfile import CsvError

    try:
        parsed = _read(path)
    except OSError as exc:
        print(f"maildesk: {path}: {exc.strerror or exc}", file=sys.stderr)
        return EX_NOINPUT
    except (CsvError, UnicodeDecodeError) as exc:
        print(f"maildesk: {exc}" if isinstance(exc, CsvError)
              else f"maildesk: {path}: not UTF-8: {exc}", file=sys.stderr)
        return EX_DATAERR
    for bad in parsed.bad:
        print(f"{path}:{bad.line}: {bad.reason}", file=sys.stderr)
    if parsed.bad and not skip_bad:
        print(f"maildesk: {len(parsed.bad)} bad row(s); nothing imported "
              "(--skip-bad imports the others)", file=sys.stderr)
        return EX_DATAERR
    new = _write(app, parsed)
    skipped = f", {len(parsed.bad)} bad row(s) skipped" if parsed.bad else ""
    print(f"imported {len(parsed.rows)} customers ({new} new, {len(parsed.rows) - new} "
          f"updated){skipped}")
    return EX_OK


def _read(path: str) -> Parsed:
    from maildesk.customers.csvfile import read

    if path == "-":
        import io

        stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
        return read(stream, "<stdin>")
    with open(path, encoding="utf-8-sig", newline="") as stream:
        return read(stream, path)


def _write(app: Desk, parsed: Parsed) -> int:
    """All rows in one transaction (a database error leaves the table as it was); the
    number of new customers."""
    from tqdm import tqdm

    from maildesk.customers.upsert import BATCH, upsert
    from maildesk.store.models import utcnow

    rows, now = parsed.rows, utcnow()
    with_admin = "company_admin" in parsed.columns
    # the size from shutil: a terminal that says it has 0 rows and columns (a fresh pty)
    # made tqdm hide its bar; shutil falls back to 80x24
    size = shutil.get_terminal_size()
    bar = tqdm(total=len(rows), unit=" customers", desc="importing", file=sys.stderr,
               disable=not sys.stderr.isatty(), ncols=size.columns, nrows=size.lines)
    new = 0
    try:
        with app.db.transaction() as session:
            for start in range(0, len(rows), BATCH):
                chunk = rows[start:start + BATCH]
                new += upsert(session, chunk, with_admin=with_admin, now=now)
                bar.update(len(chunk))
    finally:
        bar.close()
    return new
