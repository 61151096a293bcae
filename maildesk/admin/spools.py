"""Admin commands for mail kept aside and for the other entrances: spool, fetch, token."""

from __future__ import annotations

import argparse
import sys

from maildesk.admin.base import app_for
from maildesk.outcome import EX_OK, EX_TEMPFAIL

__all__ = ["fetch", "spool", "token"]


def spool(args: argparse.Namespace) -> int:
    app = app_for(args, need_schema=args.spool_command == "retry")
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
    from maildesk.redeliver import redeliver

    retried = 0
    failures = 0
    for name in ("inbound", "failed", "unmatched"):
        spool = spools[name]
        for spool_id in spool.ids():
            if args.id and spool_id != args.id:
                continue
            result = redeliver(app.runtime, spool, spool_id)
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


def fetch(args: argparse.Namespace) -> int:
    from maildesk.mailboxes.command import fetch_command

    return fetch_command(app_for(args), name=args.name, once=args.once, status=args.status,
                         as_json=args.json)


def token(args: argparse.Namespace) -> int:
    from maildesk.http.token_command import token_command

    return token_command(app_for(args), args)
