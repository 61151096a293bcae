"""The `maildesk` command (SPEC 11). Imports are lazy: `deliver` runs once per mail from an
MTA, so start-up time is throughput.

`deliver` speaks sysexits to the MTA and never exits 1 or with a traceback: anything that
goes wrong before the mail is durable is 75 (EX_TEMPFAIL), which the MTA retries.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from maildesk.outcome import EX_CONFIG, EX_OK, EX_TEMPFAIL, EX_USAGE

if TYPE_CHECKING:
    from maildesk.app import App
    from maildesk.config import Config

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


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def _config(args: argparse.Namespace) -> Config:
    from maildesk.config import ConfigError, find_config, load_config

    path = find_config(args.config)
    try:
        return load_config(path)
    except FileNotFoundError:
        print(f"maildesk: no config at {path} (run `maildesk init`)", file=sys.stderr)
    except ConfigError as exc:
        for message in exc.messages:
            print(message, file=sys.stderr)
    raise _Exit(EX_CONFIG)


def _app(args: argparse.Namespace, *, need_schema: bool = True) -> App:
    from maildesk.app import open_app

    app = open_app(_config(args))
    if need_schema:
        _check_schema(app)
    return app


def _check_schema(app: App, *, away_ok: bool = False) -> None:
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
            raise _Exit(EX_CONFIG) from exc
        if away_ok:
            log.warning("database unavailable at start-up (%s): mail will be spooled",
                        getattr(exc, "orig", exc))
            return
        print(f"maildesk: cannot open the database: {getattr(exc, 'orig', exc)}",
              file=sys.stderr)
        raise _Exit(EX_TEMPFAIL) from exc
    if problem is not None:
        print(f"maildesk: {problem}", file=sys.stderr)
        raise _Exit(EX_CONFIG)


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


def _check_files(config: Config) -> None:
    """The files the config names (the instance secret): missing ones are exit 78."""
    from maildesk.config.files import file_problems

    problems = file_problems(config)
    for message in problems:
        print(message, file=sys.stderr)
    if problems:
        raise _Exit(EX_CONFIG)


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


def _tickets(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from maildesk.store.models import Ticket
    from maildesk.views import ticket_summary, tickets_table

    app = _app(args)
    with app.db.reading() as session:
        query = select(Ticket).order_by(Ticket.id)
        if args.queue:
            query = query.where(Ticket.queue == args.queue)
        if args.state:
            query = query.where(Ticket.state == args.state)
        if args.search:
            from maildesk.store.search import matching

            condition = matching(session, args.search)
            if condition is not None:
                query = query.where(condition)
        if args.escalated:
            from maildesk.store.models import Timer

            query = query.where(Ticket.id.in_(select(Timer.ticket_id).where(Timer.stage >= 2)))
        rows = [ticket_summary(t) for t in session.execute(query).scalars()]
    print(json.dumps(rows, ensure_ascii=False, indent=1) if args.json else tickets_table(rows))
    return EX_OK


def _show(args: argparse.Namespace) -> int:
    from maildesk.store.verify import check_key
    from maildesk.views import ticket_detail, ticket_text

    app = _app(args)
    with app.db.reading() as session:
        data = ticket_detail(session, args.number)
        for article in (data or {}).get("articles", []):  # type: ignore[attr-defined]
            key = article.get("raw_sha256")  # the stored mail: is it still those bytes?
            if key:
                problem = check_key(session, app.store, key)[0]
                article["damaged"] = f"raw mail {problem}" if problem else None
    if data is None:
        print(f"maildesk: no ticket {args.number}", file=sys.stderr)
        return 66
    print(json.dumps(data, ensure_ascii=False, indent=1) if args.json else ticket_text(data))
    return EX_OK


def _verify(args: argparse.Namespace) -> int:
    """Read-only: 0 when every stored mail and attachment matches its sha256, 65
    (EX_DATAERR) when something is missing or damaged."""
    from maildesk.store.verify import verify_store

    app = _app(args)
    with app.db.reading() as session:
        report = verify_store(session, app.store)
    if args.json:
        print(json.dumps(report.as_json(), indent=1))
    else:
        for p in report.problems:
            print(f"ticket {p.ticket} article {p.article}: {p.what} {p.key}: {p.problem}")
        print(f"checked {report.articles} articles, {report.attachments} attachments, "
              f"{report.files} stored files: "
              + ("all intact" if report.ok else f"{len(report.problems)} problem(s)"))
    return EX_OK if report.ok else 65


def _outbox(args: argparse.Namespace) -> int:
    from maildesk.outbound.outbox import outbox_rows

    app = _app(args)
    with app.db.reading() as session:
        rows = outbox_rows(session, args.state)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    else:
        if not rows:
            print("outbox empty")
        for r in rows:
            print(f"{r['id']:>6} {r['state']:<7} {r['kind']:<12} tries={r['attempts']} "
                  f"ticket={r['ticket'] or '-'} to={r['to']} {r['subject']}"
                  + (f"  [{r['last_error']}]" if r["last_error"] else ""))
    return EX_OK


def _route_test(args: argparse.Namespace) -> int:
    from maildesk.intake.message import Envelope
    from maildesk.intake.parse import parse_message
    from maildesk.routing import format_route, route

    config = _config(args)
    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"maildesk: {exc}", file=sys.stderr)
        return 66
    mail = parse_message(raw, config.limits)
    envelope = Envelope(recipients=tuple(mail.to + mail.cc))
    print(format_route(route(config, mail, envelope, known_customer=False, followup=False)))
    return EX_OK


def _spool(args: argparse.Namespace) -> int:
    app = _app(args, need_schema=args.spool_command == "retry")
    spools = {"inbound": app.inbound, "failed": app.failed, "unmatched": app.unmatched}
    if args.spool_command == "list":
        found = False
        for name, spool in spools.items():
            for spool_id in spool.ids():
                mail = spool.get(spool_id)
                found = True
                print(f"{name:<9} {spool_id}  from=<{mail.envelope.sender}> "
                      f"size={len(mail.raw)}  {mail.reason}")
        if not found:
            print("spools empty")
        return EX_OK
    from maildesk.intake.redeliver import redeliver

    retried = 0
    failures = 0
    for name in ("inbound", "failed", "unmatched"):
        spool = spools[name]
        for spool_id in spool.ids():
            if args.id and spool_id != args.id:
                continue
            result = redeliver(app, spool, spool_id)
            if result.status in ("waiting", "failed"):
                print(f"{spool_id}: {result.reply}"
                      + (" (kept in spool/failed)" if result.status == "failed" else ""),
                      file=sys.stderr)
                failures += 1
                continue
            retried += 1
            print(f"{spool_id}: {result.reply}")
    if args.id and not retried and not failures:
        print(f"maildesk: no spooled mail {args.id}", file=sys.stderr)
        return 66
    return EX_OK if not failures else EX_TEMPFAIL


def _fetch(args: argparse.Namespace) -> int:
    from maildesk.mailboxes.command import fetch_command

    return fetch_command(_app(args), name=args.name, once=args.once, status=args.status,
                         as_json=args.json)


def _token(args: argparse.Namespace) -> int:
    from maildesk.http.token_command import token_command

    return token_command(_app(args), args)


def _timers(args: argparse.Namespace) -> int:
    from maildesk.timers.run import run_until_idle, upcoming

    app = _app(args)
    try:
        if args.action == "run":
            done = run_until_idle(app)
            if args.json:
                print(json.dumps(dict(sorted(done.items()))))
            else:
                print(", ".join(f"{k}: {v}" for k, v in sorted(done.items()))
                      if done else "nothing due")
            return EX_OK
        rows = upcoming(app.db, max(args.limit, 1))
    finally:
        app.close()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return EX_OK
    if not rows:
        print("nothing scheduled")
    for r in rows:
        extra = f" deadline={r['deadline']} {r['stage']}" if r["deadline"] else ""
        print(f"{r['due_at']}  {r['kind']:<14} ticket={r['ticket']} queue={r['queue']}{extra}")
    return EX_OK


def _kb(args: argparse.Namespace) -> int:
    from maildesk.kb.cli import run

    return run(args, _config(args))


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
}
