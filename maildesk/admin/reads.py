"""Admin commands that read: tickets, show, verify, outbox, route-test, timers.

Tickets, stored mail and the outbox are read through the core's queries
(`maildesk.core.queries`), never a session of their own; timers through `timers.run`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from maildesk.admin.base import app_for, load
from maildesk.outcome import EX_OK

__all__ = ["outbox", "route_test", "show", "tickets", "timers", "verify"]


def tickets(args: argparse.Namespace) -> int:
    from maildesk.core.queries import find_tickets
    from maildesk.views import tickets_table

    rows = find_tickets(app_for(args).runtime.db, queue=args.queue, state=args.state,
                        search=args.search, escalated=args.escalated)
    print(json.dumps(rows, ensure_ascii=False, indent=1) if args.json else tickets_table(rows))
    return EX_OK


def show(args: argparse.Namespace) -> int:
    from maildesk.core.queries import show_ticket
    from maildesk.views import ticket_text

    rt = app_for(args).runtime
    data = show_ticket(rt.db, rt.store, args.number)
    if data is None:
        print(f"maildesk: no ticket {args.number}", file=sys.stderr)
        return 66
    print(json.dumps(data, ensure_ascii=False, indent=1) if args.json else ticket_text(data))
    return EX_OK


def verify(args: argparse.Namespace) -> int:
    """Read-only: 0 when every stored mail and attachment matches its sha256, 65
    (EX_DATAERR) when something is missing or damaged."""
    from maildesk.core.queries import verify_articles

    rt = app_for(args).runtime
    report = verify_articles(rt.db, rt.store)
    if args.json:
        print(json.dumps(report.as_json(), indent=1))
    else:
        for p in report.problems:
            print(f"ticket {p.ticket} article {p.article}: {p.what} {p.key}: {p.problem}")
        print(f"checked {report.articles} articles, {report.attachments} attachments, "
              f"{report.files} stored files: "
              + ("all intact" if report.ok else f"{len(report.problems)} problem(s)"))
    return EX_OK if report.ok else 65


def outbox(args: argparse.Namespace) -> int:
    from maildesk.core.queries import outbox_list

    rows = outbox_list(app_for(args).runtime.db, args.state)
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


def route_test(args: argparse.Namespace) -> int:
    from maildesk.intake.message import Envelope
    from maildesk.intake.parse import parse_message
    from maildesk.routing import format_route, route

    config = load(args)
    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"maildesk: {exc}", file=sys.stderr)
        return 66
    mail = parse_message(raw, config.limits)
    envelope = Envelope(recipients=tuple(mail.to + mail.cc))
    print(format_route(route(config, mail, envelope, known_customer=False, followup=False)))
    return EX_OK


def timers(args: argparse.Namespace) -> int:
    from maildesk.timers.run import run_until_idle, upcoming

    app = app_for(args)
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
