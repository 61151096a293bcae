"""The mailboxes of `serve` and `maildesk fetch`: one asyncio task each, whose blocking
session runs in a thread of its own, so IDLE never holds the event loop nor another mailbox.

A task loops: take the lease -> connect -> sync -> wait (IDLE, else poll) -> sync ... An
error ends the session; the task reconnects after an exponential backoff with jitter, a
refused login only after AUTH_RETRY (never hammering a provider that locks accounts), and
the error is kept in the mailbox's status row either way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from maildesk.config import Mailbox
from maildesk.mailboxes.credentials import AuthError
from maildesk.mailboxes.imap import IDLE_RENEW, ImapSession
from maildesk.mailboxes.pop3 import Pop3Session
from maildesk.mailboxes.state import RENEW_EVERY, LeaseLost, MailboxStore
from maildesk.mailboxes.sync import Progress, sync_imap, sync_pop3

if TYPE_CHECKING:
    from maildesk.app import App

__all__ = ["Mailboxes", "MailboxTask", "fetch_once", "owner_id"]

log = logging.getLogger("maildesk.mailboxes")

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0
AUTH_RETRY = float(os.environ.get("MAILDESK_MAILBOX_AUTH_RETRY", "900"))  # 15 min
LEASE_RETRY = 10.0  # how often a daemon without the lease looks again (takeover < 60 s)


def owner_id() -> str:
    """Who holds a lease: readable in `fetch --status`, unique per process."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


def run_session(app: App, mailbox: Mailbox, store: MailboxStore, stop: threading.Event,
                hold: list[ImapSession | Pop3Session], *, once: bool = False,
                progress: Progress | None = None) -> int:
    """Connect and sync until `stop` (or one pass with `once`); blocking. `hold` gets the
    live session so another thread can interrupt it."""
    total = 0
    while not stop.is_set():
        session: ImapSession | Pop3Session
        session = ImapSession(mailbox) if mailbox.protocol == "imap" else Pop3Session(mailbox)
        hold[:] = [session]
        try:
            session.connect()
            while not stop.is_set():
                if isinstance(session, ImapSession):
                    total += sync_imap(app, session, store, stop=stop, progress=progress)
                else:
                    total += sync_pop3(app, session, store, stop=stop, progress=progress)
                store.succeeded()
                if once or not isinstance(session, ImapSession):
                    break
                _wait(session, store, stop)
        finally:
            session.close()
            hold.clear()
        if once:
            break
        _sleep(store, stop, mailbox.poll_every)  # POP3: a new session per poll
    return total


def _wait(session: ImapSession, store: MailboxStore, stop: threading.Event) -> None:
    """Until the server announces mail (IDLE) or the poll interval ends; the lease is renewed
    every RENEW_EVERY meanwhile, inside one IDLE that is re-issued within RFC 2177's 29
    minutes (`ImapSession.wait`)."""
    if session.can_idle:
        deadline = time.monotonic() + IDLE_RENEW  # then a full pass, whatever IDLE said
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                if session.wait(RENEW_EVERY):
                    return
                store.renew()
        finally:
            if not stop.is_set():
                session.end_idle()
        return
    _sleep(store, stop, session.mailbox.poll_every)
    if not stop.is_set():
        session.noop()


def _sleep(store: MailboxStore, stop: threading.Event, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        stop.wait(min(left, RENEW_EVERY))
        if not stop.is_set():
            store.renew()


class MailboxTask:
    """One mailbox in `serve`: its task, its thread, its backoff."""

    def __init__(self, app: App, mailbox: Mailbox, owner: str) -> None:
        self.app = app
        self.mailbox = mailbox
        self.store = MailboxStore(app.db, mailbox.name, owner)
        self.stop_thread = threading.Event()
        self._stopped = asyncio.Event()
        self._hold: list[ImapSession | Pop3Session] = []
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="maildesk-mailbox")
        self.task = asyncio.create_task(self._run(), name=f"mailbox {mailbox.name}")

    async def _run(self) -> None:
        loop, mb = asyncio.get_running_loop(), self.mailbox
        backoff = BACKOFF_FIRST
        while not self._stopped.is_set():
            pause, started = backoff, time.monotonic()
            try:
                held = await loop.run_in_executor(self._executor, self.store.acquire)
                if not held:
                    log.debug("mailbox %s: fetched by another daemon", mb.name)
                    await self._pause(LEASE_RETRY)
                    continue
                log.info("mailbox %s: fetching %s", mb.name, mb.url)
                await loop.run_in_executor(self._executor, run_session, self.app, mb,
                                           self.store, self.stop_thread, self._hold)
                continue
            except LeaseLost:
                log.warning("mailbox %s: another daemon took it over", mb.name)
                pause = LEASE_RETRY
            except AuthError as exc:
                if self._stopped.is_set():
                    break
                log.error("mailbox %s: %s; next try in %.0f s", mb.name, exc, AUTH_RETRY)
                await self._record(str(exc), auth=True)
                pause = AUTH_RETRY
            except Exception as exc:  # network, TLS, server, database: all worth a retry
                if self._stopped.is_set():
                    break
                if time.monotonic() - started > 60:  # it had worked: start the backoff anew
                    pause = BACKOFF_FIRST
                backoff = min(pause * 2, BACKOFF_MAX)
                log.warning("mailbox %s: %s: %s; reconnecting in %.0f s", mb.name,
                            type(exc).__name__, exc, pause)
                await self._record(f"{type(exc).__name__}: {exc}", auth=False)
            await self._pause(random.uniform(pause * 0.8, pause * 1.2))
        await loop.run_in_executor(self._executor, self._release)

    async def _record(self, error: str, *, auth: bool) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor,
                                       lambda: self.store.failed(error, auth=auth))
        except Exception as exc:
            log.warning("mailbox %s: cannot record the error: %s", self.mailbox.name, exc)

    def _release(self) -> None:
        try:
            self.store.release()
        except Exception as exc:  # another daemon takes over when the lease runs out
            log.warning("mailbox %s: cannot release the lease: %s", self.mailbox.name, exc)

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopped.wait(), seconds)
        except TimeoutError:
            pass

    async def stop(self) -> None:
        """Ends the session at once (a blocked IDLE read included) and releases the lease."""
        self._stopped.set()
        self.stop_thread.set()
        for session in list(self._hold):
            session.interrupt()
        try:
            await self.task
        finally:
            self._executor.shutdown(wait=False)


class Mailboxes:
    """The tasks of every configured mailbox; `update` after a reload starts the new ones,
    stops the removed ones and restarts the changed ones. Others keep running."""

    def __init__(self, app: App, owner: str | None = None) -> None:
        self.app = app
        self.owner = owner or owner_id()
        self.tasks: dict[str, MailboxTask] = {}
        self._db = app.db

    async def update(self, mailboxes: tuple[Mailbox, ...]) -> None:
        wanted = {m.name: m for m in mailboxes}
        new_db = self.app.db is not self._db  # the database URL changed: every task anew
        self._db = self.app.db
        for name, task in list(self.tasks.items()):
            if new_db or wanted.get(name) != task.mailbox:
                del self.tasks[name]
                log.info("mailbox %s: stopping (%s)", name,
                         "changed" if name in wanted else "removed from the config")
                await task.stop()
        for name, mailbox in wanted.items():
            if name not in self.tasks:
                self.tasks[name] = MailboxTask(self.app, mailbox, self.owner)

    async def stop(self) -> None:
        tasks, self.tasks = list(self.tasks.values()), {}
        await asyncio.gather(*(t.stop() for t in tasks), return_exceptions=True)


def fetch_once(app: App, mailbox: Mailbox, owner: str, progress: Progress | None = None,
               ) -> int:
    """`maildesk fetch --once`: one pass under the lease; raises LeaseLost when a daemon
    fetches this mailbox now, AuthError on a refused login (recorded either way)."""
    store = MailboxStore(app.db, mailbox.name, owner)
    if not store.acquire():
        raise LeaseLost(mailbox.name)
    try:
        return run_session(app, mailbox, store, threading.Event(), [], once=True,
                           progress=progress)
    except AuthError as exc:
        store.failed(str(exc), auth=True)
        raise
    except LeaseLost:
        raise
    except Exception as exc:
        store.failed(f"{type(exc).__name__}: {exc}", auth=False)
        raise
    finally:
        store.release()
