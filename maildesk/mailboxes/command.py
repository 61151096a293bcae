"""`maildesk fetch [--once] [--status [--json]] [NAME]`: the mailboxes from the command line,
for cron users (`--once`), for a look at their state (`--status`), or as a fetch-only daemon.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from maildesk.config import Mailbox
from maildesk.outcome import EX_OK, EX_TEMPFAIL, EX_USAGE

if TYPE_CHECKING:
    from maildesk.app import App

__all__ = ["fetch_command"]

log = logging.getLogger("maildesk.mailboxes")


def fetch_command(app: App, *, name: str | None, once: bool, status: bool, as_json: bool,
                  ) -> int:
    mailboxes = app.config.mailboxes
    if name is not None:
        mailboxes = tuple(m for m in mailboxes if m.name == name)
        if not mailboxes:
            known = ", ".join(m.name for m in app.config.mailboxes) or "none configured"
            print(f"maildesk: no mailbox {name!r} (mailboxes: {known})", file=sys.stderr)
            return EX_USAGE
    if status:
        return _status(app, mailboxes, as_json)
    if not mailboxes:
        print("maildesk: no mailboxes in the config", file=sys.stderr)
        return EX_USAGE
    if once:
        return _once(app, mailboxes)
    return asyncio.run(_forever(app, mailboxes, name))


def status_list(app: App, mailboxes: tuple[Mailbox, ...]) -> list[dict[str, Any]]:
    """One object per mailbox: the `fetch --status --json` contract, and what metrics read."""
    from maildesk.mailboxes.state import status_rows

    rows = status_rows(app.db, [m.name for m in mailboxes])
    empty = {"last_success_at": None, "last_error": None, "last_error_at": None,
             "auth_failed": False, "fetched": 0, "uidvalidity": None, "last_uid": 0,
             "lease_owner": None}
    return [{"name": m.name, "url": m.url, **rows.get(m.name, empty)} for m in mailboxes]


def _status(app: App, mailboxes: tuple[Mailbox, ...], as_json: bool) -> int:
    items = status_list(app, mailboxes)
    if as_json:
        print(json.dumps(items, indent=1))
        return EX_OK
    if not items:
        print("no mailboxes configured")
    for s in items:
        state = "AUTH FAILED" if s["auth_failed"] else ("error" if s["last_error"] else "ok")
        print(f"{s['name']}: {state}  {s['url']}")
        print(f"  last success: {s['last_success_at'] or 'never'}   fetched: {s['fetched']}"
              f"   by: {s['lease_owner'] or '-'}")
        if s["last_error"]:
            print(f"  last error:   {s['last_error_at']}  {s['last_error']}")
    return EX_OK


def _once(app: App, mailboxes: tuple[Mailbox, ...]) -> int:
    from maildesk.mailboxes.credentials import AuthError
    from maildesk.mailboxes.runner import fetch_once, owner_id
    from maildesk.mailboxes.state import LeaseLost

    owner, failures = owner_id(), 0
    for mailbox in mailboxes:
        with _progress_bar(mailbox.name) as progress:
            try:
                count = fetch_once(app, mailbox, owner, progress)
            except LeaseLost:
                print(f"{mailbox.name}: fetched by a running daemon now; skipped",
                      file=sys.stderr)
                continue
            except AuthError as exc:
                print(f"{mailbox.name}: login failed: {exc}", file=sys.stderr)
                failures += 1
                continue
            except Exception as exc:
                print(f"{mailbox.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
                failures += 1
                continue
        print(f"{mailbox.name}: {count} mails fetched")
    return EX_OK if not failures else EX_TEMPFAIL


class _progress_bar:
    """A tqdm bar on a terminal (a first fetch of 10,000 old mails takes a while); nothing
    otherwise, so cron mails and logs stay clean."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.bar: Any = None
        self.redirect: Any = None

    def __enter__(self) -> Callable[[int, int], None] | None:
        if not sys.stderr.isatty():
            return None
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is None:
            if total == 0:
                return
            from tqdm import tqdm  # type: ignore[import-untyped]
            from tqdm.contrib.logging import logging_redirect_tqdm  # type: ignore[import-untyped]

            # A terminal that reports no size (0 x 0: a serial console, some ptys) would
            # get no bar at all from tqdm: the standard library's fallback is 80 x 24.
            size = shutil.get_terminal_size()
            self.bar = tqdm(total=total, desc=self.name, unit="mail", file=sys.stderr,
                            ncols=size.columns, nrows=size.lines)
            # Log lines (one per mail) go above the bar instead of through it.
            self.redirect = logging_redirect_tqdm()
            self.redirect.__enter__()
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def __exit__(self, *exc: object) -> None:
        if self.redirect is not None:
            self.redirect.__exit__(None, None, None)
        if self.bar is not None:
            self.bar.close()


async def _forever(app: App, mailboxes: tuple[Mailbox, ...], name: str | None) -> int:
    """Fetch only, no listeners: until SIGTERM or SIGINT; SIGHUP rereads the config and
    adds, removes or restarts mailboxes as `serve` does."""
    from maildesk.mailboxes.runner import Mailboxes

    loop, stop = asyncio.get_running_loop(), asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = Mailboxes(app)
    lock = asyncio.Lock()

    async def reload() -> None:
        from maildesk.config import ConfigError, load_config

        async with lock:
            try:
                config = await loop.run_in_executor(None, load_config, app.config.path)
            except ConfigError as exc:
                for message in exc.messages:
                    log.error("reload refused, the config in force stays: %s", message)
                return
            await loop.run_in_executor(None, app.reload, config)
            wanted = tuple(m for m in config.mailboxes if name is None or m.name == name)
            await runner.update(wanted)
            log.info("config reloaded: %d mailboxes", len(wanted))

    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(reload()))
    await runner.update(mailboxes)
    log.info("fetching %d mailboxes", len(mailboxes))
    await stop.wait()
    await runner.stop()
    return EX_OK
