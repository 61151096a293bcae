"""The `maildesk` command (SPEC 11). Imports are lazy: `deliver` runs once per mail from an
MTA, so start-up time is throughput. This module parses and dispatches; the commands'
bodies live in maildesk/admin/ (base: config, App, schema check, exit codes).

`deliver` speaks sysexits to the MTA and never exits 1 or with a traceback: anything that
goes wrong before the mail is durable is 75 (EX_TEMPFAIL), which the MTA retries.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import NoReturn

from maildesk.admin.base import Exit as _Exit
from maildesk.admin.base import app_for as _app
from maildesk.admin.base import check_files as _check_files
from maildesk.admin.base import check_schema as _check_schema
from maildesk.admin.base import load as _config
from maildesk.admin.reads import outbox as _outbox
from maildesk.admin.reads import route_test as _route_test
from maildesk.admin.reads import show as _show
from maildesk.admin.reads import tickets as _tickets
from maildesk.admin.reads import timers as _timers
from maildesk.admin.reads import verify as _verify
from maildesk.admin.spools import fetch as _fetch
from maildesk.admin.spools import spool as _spool
from maildesk.admin.spools import token as _token
from maildesk.outcome import EX_CONFIG, EX_OK, EX_TEMPFAIL, EX_USAGE

__all__ = ["main"]

log = logging.getLogger("maildesk")


class _Parser(argparse.ArgumentParser):
    usage_exit = EX_USAGE

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(self.usage_exit, f"maildesk: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="maildesk", description="A mail-first helpdesk daemon.")
    p.add_argument("--config", help="config file (else $MAILDESK_CONFIG, ./maildesk.yaml, "
                                    "/etc/maildesk/maildesk.yaml)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("init", help="write an example config and secret, create the database")
    sub.add_parser("check-config", help="validate the config; errors as file:line: message")
    sub.add_parser("migrate", help="create or upgrade the database schema")
    sub.add_parser("serve", help="run the SMTP/LMTP daemon and the outbound sender")
    d = sub.add_parser("deliver", help="take one mail on stdin (MTA pipe transport)")
    d.add_argument("--sender", default=None, help="envelope sender (MAIL FROM)")
    d.add_argument("--recipient", action="append", default=[], help="envelope recipient")
    t = sub.add_parser("tickets", help="list tickets")
    t.add_argument("--queue")
    t.add_argument("--state")
    t.add_argument("--search", metavar="TEXT", help="full text: tickets whose articles hold "
                   "every word")
    t.add_argument("--escalated", action="store_true",
                   help="only tickets with an SLA clock past its deadline")
    t.add_argument("--json", action="store_true")
    s = sub.add_parser("show", help="show one ticket with its articles and history")
    s.add_argument("number")
    s.add_argument("--json", action="store_true")
    o = sub.add_parser("outbox", help="list outbound mail")
    o.add_argument("--state", choices=["queued", "sent", "failed"])
    o.add_argument("--json", action="store_true")
    v = sub.add_parser("verify", help="check every stored mail and attachment against its "
                       "sha256; changes nothing")
    v.add_argument("--json", action="store_true")
    r = sub.add_parser("route-test", help="show where a mail would go; stores nothing")
    r.add_argument("file")
    tm = sub.add_parser("timers", help="what is due next; `timers run` runs what is due now")
    tm.add_argument("action", nargs="?", choices=["run"], help="run what is due, once")
    tm.add_argument("--json", action="store_true")
    tm.add_argument("--limit", type=int, default=50, help="how many to list (default 50)")
    sp = sub.add_parser("spool", help="mails kept aside: list, or retry after a fix")
    sp_sub = sp.add_subparsers(dest="spool_command", required=True, parser_class=_Parser)
    sp_sub.add_parser("list")
    retry = sp_sub.add_parser("retry")
    retry.add_argument("id", nargs="?")
    f = sub.add_parser("fetch", help="fetch mail from the configured IMAP/POP3 mailboxes")
    f.add_argument("name", nargs="?", help="only this mailbox")
    f.add_argument("--once", action="store_true", help="one pass, then exit (cron)")
    f.add_argument("--status", action="store_true", help="last success and error of each")
    f.add_argument("--json", action="store_true", help="with --status: as JSON")
    tk = sub.add_parser("token", help="HTTP API tokens: create (shown once), list, revoke")
    tk_sub = tk.add_subparsers(dest="token_command", required=True, parser_class=_Parser)
    tc = tk_sub.add_parser("create")
    tc.add_argument("name")
    tc.add_argument("--queue", action="append", default=[], help="limit to this queue "
                    "(repeat for more; none: every queue)")
    tc.add_argument("--scope", choices=["read", "write"], default="read")
    tl = tk_sub.add_parser("list")
    tl.add_argument("--json", action="store_true")
    tk_sub.add_parser("revoke").add_argument("name")
    from maildesk.kb.cli import add_parser as add_kb_parser

    add_kb_parser(sub, _Parser)
    from maildesk.admin.customers import add_parser as add_customers_parser

    add_customers_parser(sub, _Parser)
    return p


def main(argv: list[str] | None = None, *, message: bytes | None = None) -> int:
    """`message`: the mail `deliver` already read from stdin (maildesk.deliver's fast
    path found no daemon), so it is not read twice."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "deliver" in argv:
        _Parser.usage_exit = EX_TEMPFAIL  # a usage slip in master.cf must not bounce mail
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="maildesk[%(name)s] %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its plugin list is noise here
    if args.command == "deliver":
        return _deliver(args, message)
    handler = _COMMANDS[args.command]
    try:
        return handler(args)
    except _Exit as exc:
        return exc.code


# -- commands ---------------------------------------------------------------------------


def _init(args: argparse.Namespace) -> int:
    from maildesk.app import ensure_secret, open_app
    from maildesk.config import find_config, load_config
    from maildesk.store.migrate import upgrade

    path = find_config(args.config)
    if path.exists():
        print(f"{path} exists; keeping it")
    else:
        example = (Path(__file__).parent / "example.yaml").read_text()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(example)
        print(f"wrote {path}")
    config = load_config(path)
    ensure_secret(config.instance.secret_file)
    from maildesk.kb.library import install_example

    if install_example(config):
        print(f"wrote an example knowledge base to {config.kb.path}")
    app = open_app(config)
    upgrade(app.db)
    print(f"database ready: {config.database}")
    return EX_OK


def _check_config(args: argparse.Namespace) -> int:
    config = _config(args)
    _check_files(config)
    from maildesk.kb.library import kb_problems

    for message in (problems := kb_problems(config)):
        print(message, file=sys.stderr)
    if problems:
        return EX_CONFIG
    print(f"{config.path}: ok ({len(config.queues)} queues, {len(config.agents)} agents, "
          f"{len(config.rules)} rules)")
    return EX_OK


def _migrate(args: argparse.Namespace) -> int:
    from maildesk.store.migrate import upgrade

    app = _app(args, need_schema=False)
    upgrade(app.db)
    print("database schema is up to date")
    return EX_OK


def _serve(args: argparse.Namespace) -> int:
    from maildesk.config import find_config
    from maildesk.daemon import serve

    app = _app(args, need_schema=False)  # a broken config: file:line messages, exit 78
    try:
        _check_files(app.config)
        _check_schema(app, away_ok=True)  # never migrated, or migrated by another version
    finally:
        app.close()
    return serve(find_config(args.config))


def _deliver(args: argparse.Namespace, message: bytes | None = None) -> int:
    """Never raises: every failure before the mail is durable is EX_TEMPFAIL."""
    try:
        raw = sys.stdin.buffer.read() if message is None else message
    except BaseException as exc:  # noqa: BLE001
        print(f"maildesk: cannot read the message: {exc}", file=sys.stderr)
        return EX_TEMPFAIL
    try:
        from maildesk.intake.message import Envelope

        app = _app(args)
        _check_files(app.config)
        envelope = Envelope(sender=args.sender or "",
                            recipients=tuple(r.lower() for r in args.recipient))
        # No spooling here: only the daemon drains the spool, and an MTA's own queue holds
        # the mail just as well. Exit 0 means the ticket is there (SPEC 2), else 75.
        outcome = app.ingest(raw, envelope, spool_transient=False)
    except _Exit:
        return EX_TEMPFAIL
    except BaseException as exc:  # noqa: BLE001
        log.error("deliver failed before the mail was stored: %r", exc)
        return EX_TEMPFAIL
    if outcome.code >= 400:
        print(outcome.text, file=sys.stderr)  # Postfix shows this in its bounce or log
    return outcome.exit_code


def _kb(args: argparse.Namespace) -> int:
    from maildesk.kb.cli import run

    return run(args, _config(args))


def _customers(args: argparse.Namespace) -> int:
    from maildesk.admin.customers import run

    return run(args)


_COMMANDS = {
    "init": _init,
    "check-config": _check_config,
    "migrate": _migrate,
    "serve": _serve,
    "tickets": _tickets,
    "show": _show,
    "outbox": _outbox,
    "verify": _verify,
    "route-test": _route_test,
    "spool": _spool,
    "fetch": _fetch,
    "token": _token,
    "timers": _timers,
    "kb": _kb,
    "customers": _customers,
}
