"""`maildesk token create|list|revoke` (SPEC 14); no web code, the CLI imports it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from maildesk.http import tokens
from maildesk.outcome import EX_OK, EX_USAGE

if TYPE_CHECKING:
    from maildesk.app import App

__all__ = ["token_command"]

EX_NOINPUT = 66


def token_command(app: App, args: argparse.Namespace) -> int:
    if args.token_command == "create":
        unknown = [q for q in args.queue if app.config.queue(q) is None]
        if unknown:
            known = ", ".join(q.name for q in app.config.queues)
            print(f"maildesk: unknown queue(s) {', '.join(unknown)} (queues: {known})",
                  file=sys.stderr)
            return EX_USAGE
        if not args.name.strip() or len(args.name) > 100:
            print("maildesk: a token name is 1 to 100 characters", file=sys.stderr)
            return EX_USAGE
        try:
            with app.db.transaction() as session:
                token = tokens.create(session, args.name, args.scope, args.queue)
        except ValueError as exc:
            print(f"maildesk: {exc}", file=sys.stderr)
            return EX_USAGE
        print(f"token {args.name}: scope {args.scope}, queues "
              f"{', '.join(args.queue) or 'all'}. It is shown only now; keep it:",
              file=sys.stderr)
        print(token)
        return EX_OK
    if args.token_command == "list":
        with app.db.reading() as session:
            rows = tokens.listing(session)
        if args.json:
            print(json.dumps(rows, indent=1))
        elif not rows:
            print("no tokens")
        for r in rows if not args.json else []:
            state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "active"
            queues = ",".join(r["queues"]) or "all"  # type: ignore[arg-type]
            print(f"{r['name']:<20} {r['prefix']}… {r['scope']:<5} queues={queues} "
                  f"created={r['created_at']} last_used={r['last_used_at'] or '-'} {state}")
        return EX_OK
    with app.db.transaction() as session:
        count = tokens.revoke(session, args.name)
    if not count:
        print(f"maildesk: no active token named {args.name}", file=sys.stderr)
        return EX_NOINPUT
    print(f"revoked {args.name}")
    return EX_OK
