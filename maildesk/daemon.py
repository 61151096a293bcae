"""`maildesk serve`: the asyncio main of the daemon.

One event loop owns the sockets (SMTP, LMTP, signals, systemd notifications); every
blocking step runs in threads:

* `maildesk-ingest`: group commits of mails (maildesk.batch, told the sessions' mails on
  their way), one thread for SQLite's one writer, a few for a server database;
* `maildesk-drain`: the inbound spool (a crash or a database outage leaves mail there),
  drained in arrival order before the listeners open and then every second;
* the outbound sender coroutine, woken by each mail stored and at least every second;
* one task per configured mailbox (`maildesk.mailboxes.runner`), each with a thread;
* the timers' scheduler (`maildesk.timers.scheduler`), its database work in `maildesk-timers`.

SIGHUP reloads the config (a broken one is refused, logged `file:line`, the old one stays);
SIGTERM/SIGINT stop accepting, finish transactions (GRACE_SECONDS), exit 0: docs/daemon.md.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import ssl
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from maildesk.batch import Batcher
from maildesk.bootstrap import load_for_reload
from maildesk.mailboxes.runner import Mailboxes
from maildesk.outcome import EX_CONFIG, Outcome
from maildesk.smtp.handler import Handler
from maildesk.smtp.lmtp import MaildeskLMTP
from maildesk.smtp.server import MaildeskSMTP, Sessions, make_tls_context

if TYPE_CHECKING:
    from maildesk.app import App
    from maildesk.config import Config
    from maildesk.http.service import HttpService

__all__ = ["Daemon", "notify", "serve"]

log = logging.getLogger("maildesk.daemon")

EX_OSERR = 71  # sysexits: cannot bind, cannot open the data folder
GRACE_SECONDS = float(os.environ.get("MAILDESK_GRACE_SECONDS", "30"))
DRAIN_EVERY = 1.0  # seconds between looks at the inbound spool
DRAIN_BATCH = 200  # mails per drain run, so a shutdown never waits on a huge spool
DRAIN_BACKOFF_MAX = 300.0  # seconds between tries of a drain that keeps failing


def serve(config_path: Path) -> int:
    """Run the daemon until SIGTERM; the return value is the process exit code."""
    from maildesk.config import ConfigError, load_config

    _setup_logging()
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        for message in exc.messages:
            log.error("%s", message)
        return EX_CONFIG
    try:
        return asyncio.run(Daemon(config_path, config).run())
    except KeyboardInterrupt:  # a second ^C while stopping
        return 130


def notify(*fields: str) -> bool:
    """sd_notify(3) with the standard library: one datagram to $NOTIFY_SOCKET, if set."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or not hasattr(socket, "AF_UNIX"):
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall("\n".join(fields).encode())
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", address, exc)
        return False
    return True


def ingest_workers(database_url: str) -> int:
    """SQLite serialises writers: more threads would only queue on its lock (and its busy
    handler sleeps, which costs latency). A server database takes a few in parallel; five
    stays inside SQLAlchemy's default pool. $MAILDESK_INGEST_WORKERS overrides (measuring)."""
    override = os.environ.get("MAILDESK_INGEST_WORKERS", "")
    if override.isdigit() and int(override) > 0:
        return int(override)
    return 1 if database_url.startswith("sqlite") else 5


class Daemon:
    def __init__(self, config_path: Path, config: Config) -> None:
        from maildesk.app import open_app

        self.config_path = config_path
        self.app: App = open_app(config)
        self.sessions = Sessions()
        self.ingest_pool = Batcher(self.app, ingest_workers(config.database),  # group commit
                                   transactions=self.sessions.transactions)
        self.drain_pool = ThreadPoolExecutor(1, "maildesk-drain")
        self.handler = Handler(self.app, self.ingest_pool, self._after_ingest)
        self.servers: list[asyncio.Server] = []
        self.http: HttpService | None = None  # listen.http: the API, health, metrics
        self.hostname = socket.gethostname()
        self._tls: ssl.SSLContext | None = None
        self._spool_may_hold_mail = True  # unknown until the first drain
        self._stop = asyncio.Event()
        self._drain_now = asyncio.Event()
        self._outbox_wake = asyncio.Event()  # a mail stored: the sender looks at once
        self._status = "starting"  # systemd's STATUS= while all is well
        self._reloading = asyncio.Lock()
        self.mailboxes = Mailboxes(self.app)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        try:
            self._tls = make_tls_context(self.app.config.listen)
        except (OSError, ssl.SSLError) as exc:
            log.error("cannot load the TLS certificate or key: %s", exc)
            await self._close()
            return EX_CONFIG
        try:
            drained = await loop.run_in_executor(self.drain_pool, self._drain_all)
        except Exception:  # a bug here must not keep new mail out: it can still be spooled
            log.exception("draining the inbound spool at start-up failed")
        else:
            if drained:
                log.info("drained %d spooled mails before listening", drained)
        try:
            await self._listen()
        except OSError as exc:
            log.error("cannot listen: %s", exc)
            await self._close()
            return EX_OSERR
        self._install_signals(loop)
        # Everything loaded so far (modules, config, SQLAlchemy's mappers) lives as long as
        # the daemon: out of the collector's sight, a full collection no longer walks it
        # (those walks were the tens-of-ms stalls in the ingest p99).
        gc.collect()
        gc.freeze()
        tasks = [asyncio.create_task(self._drain_loop(), name="spool-drain")]
        if self.http is not None:
            self.http.start()
        tasks.append(_start_sender(self.app, self._stop, self._outbox_wake))
        from maildesk.webhooks.pump import run_pump  # history -> webhook outbox rows

        tasks.append(asyncio.create_task(run_pump(self.app, self._stop), name="webhooks"))
        tasks.append(_start_scheduler(self.app, self._stop))
        await self.mailboxes.update(self.app.config.mailboxes)
        where = ", ".join([_where(s) for s in self.servers]
                          + ([self.http.where] if self.http is not None else []))
        log.info("listening on %s", where)
        self._status = f"listening on {where}"
        notify("READY=1", f"STATUS={self._status}", f"MAINPID={os.getpid()}")
        await self._stop.wait()
        notify("STOPPING=1", "STATUS=finishing sessions in flight")
        log.info("stopping: no new connections; finishing sessions in flight")
        await self._shutdown(tasks)
        log.info("stopped")
        return 0

    # -- listeners -------------------------------------------------------------------------

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        listen = self.app.config.listen
        for address, cls in ((listen.smtp, MaildeskSMTP), (listen.lmtp, MaildeskLMTP)):
            if address is None:
                continue
            host, port = address
            server = await loop.create_server(self._factory(cls), host, port,
                                              reuse_address=True)
            self.servers.append(server)
        if listen.socket is not None:  # SPEC 19: `maildesk deliver` hands its mail here
            from maildesk.smtp.unix import listen_unix

            self.servers.append(await listen_unix(listen.socket, self._factory(MaildeskLMTP)))
        if listen.http is not None:
            # Imported here only: `deliver` and the CLI never load the web stack.
            from maildesk.http.service import HttpService

            self.http = HttpService(self.app, *listen.http)

    def _factory(self, cls: type[MaildeskSMTP]) -> Callable[[], MaildeskSMTP]:
        def make() -> MaildeskSMTP:
            # The config of the moment: a reload applies to the sessions that open after it.
            return cls(self.handler, self.sessions, self.app.config.listen, self._tls,
                       self.hostname)
        return make

    # -- spool -----------------------------------------------------------------------------

    def _drain_all(self) -> int:
        """Start-up: the spool in order, before any new mail can overtake it."""
        try:
            if not self.app.db.has_schema():
                log.error("the database has no schema yet: run `maildesk migrate`; until then "
                          "mail is accepted into the inbound spool and waits there")
                return 0
        except Exception as exc:  # down: mail is spooled until it is back
            log.warning("database unavailable at start-up (%s): mail will be spooled", exc)
            return 0
        total = 0
        while True:
            done = self.app.drain_inbound(DRAIN_BATCH)
            total += done
            if done < DRAIN_BATCH:
                self._spool_may_hold_mail = len(self.app.inbound) > 0
                return total

    async def _drain_loop(self) -> None:
        """Every second (or at once when a stored mail says the database is back); a drain
        that keeps failing (a bug, not an outage: those stop the drain quietly) backs off
        from 1 s to DRAIN_BACKOFF_MAX, and says so to the log and to systemd's STATUS=."""
        loop = asyncio.get_running_loop()
        failures = 0
        while not self._stop.is_set():
            if failures:
                pause = min(DRAIN_EVERY * 2 ** failures, DRAIN_BACKOFF_MAX)
                try:  # a stored mail does not cut a backoff short: the bug is still there
                    await asyncio.wait_for(self._stop.wait(), pause)
                except TimeoutError:
                    pass
            else:
                try:
                    await asyncio.wait_for(self._drain_now.wait(), DRAIN_EVERY)
                except TimeoutError:
                    pass
            self._drain_now.clear()
            if self._stop.is_set():
                return
            try:
                done = await loop.run_in_executor(self.drain_pool, self.app.drain_inbound,
                                                  DRAIN_BATCH)
            except Exception as exc:
                failures += 1
                self._drain_failed(exc, failures)
                continue
            if failures:
                log.warning("the inbound spool drains again after %d failed tries", failures)
                notify(f"STATUS={self._status}")
                failures = 0
            if done == DRAIN_BATCH:
                self._drain_now.set()  # more waiting: go on at once
            elif done:
                self._spool_may_hold_mail = await loop.run_in_executor(
                    self.drain_pool, lambda: len(self.app.inbound) > 0)

    def _drain_failed(self, exc: Exception, failures: int) -> None:
        waiting = len(self.app.inbound)
        pause = min(DRAIN_EVERY * 2 ** failures, DRAIN_BACKOFF_MAX)
        what = f"{type(exc).__name__}: {exc}"
        if failures == 1:
            log.exception("draining the inbound spool failed (%d mails waiting); next try "
                          "in %.0f s", waiting, pause)
        else:
            log.error("draining the inbound spool failed again (%d times in a row, %d mails "
                      "waiting): %s; next try in %.0f s", failures, waiting, what, pause)
        notify(f"STATUS=inbound spool stuck, {waiting} mails waiting: {what[:200]} "
               "(see the log; new mail is still accepted)")

    def _after_ingest(self, outcome: Outcome) -> None:
        """A mail committed: the database is back (drain what waited for it now), and the
        sender may have mail to send (an auto-response, notifications)."""
        if outcome.result == "spooled":
            self._spool_may_hold_mail = True
        elif outcome.result == "stored":
            self._outbox_wake.set()
            if self._spool_may_hold_mail:
                self._drain_now.set()

    # -- signals ---------------------------------------------------------------------------

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        handlers: list[tuple[str, Callable[[], object]]] = [
            ("SIGTERM", self._stop.set),
            ("SIGINT", self._stop.set),
            ("SIGHUP", lambda: asyncio.ensure_future(self.reload())),
        ]
        for name, callback in handlers:
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            try:
                loop.add_signal_handler(sig, callback)
            except (NotImplementedError, RuntimeError):  # not on this platform
                log.debug("no handler for %s on this platform", name)

    async def reload(self) -> bool:
        """Load the config file again; only a config that passes every check replaces the one
        in force, so an admin's typo never takes the service down."""
        async with self._reloading:
            notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
            try:
                return await self._reload()
            finally:
                notify("READY=1")

    async def _reload(self) -> bool:
        loop = asyncio.get_running_loop()
        loaded = await loop.run_in_executor(None, load_for_reload, self.config_path,
                                            self.app.config, make_tls_context)
        if loaded is None:
            return False
        config, tls = loaded
        await loop.run_in_executor(None, self.app.reload, config)  # one swap of the runtime
        self._tls = tls
        await self.mailboxes.update(config.mailboxes)
        log.info("config reloaded from %s", self.config_path)
        return True

    # -- shutdown --------------------------------------------------------------------------

    async def _shutdown(self, tasks: list[asyncio.Task[None]]) -> None:
        for server in self.servers:
            server.close()
        if self.app.config.listen.socket is not None:
            from maildesk.smtp.unix import remove_socket

            remove_socket(self.app.config.listen.socket)
        self.sessions.begin_shutdown()
        if self.http is not None:  # no new requests; those in flight finish first
            await self.http.stop()
        deadline = time.monotonic() + GRACE_SECONDS
        while self.sessions.live and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.sessions.live:
            log.warning("%d sessions still open after %.0f s: closing them",
                        len(self.sessions.live), GRACE_SECONDS)
            self.sessions.close_all()
        self._drain_now.set()  # wake the drain loop so it sees the stop
        await self.mailboxes.stop()  # a mail in flight finishes its commit; leases released
        _, pending = await asyncio.wait(tasks, timeout=10) if tasks else (set(), set())
        for task in pending:
            task.cancel()
        await self._close()

    async def _close(self) -> None:
        """Mails already handed to a worker finish (their sender may retry; dedupe makes it
        harmless); then the database goes."""
        loop = asyncio.get_running_loop()
        if self.http is not None and self.http.server.task is None:
            self.http.sock.close()  # bound, never started (a later listener failed)
        await loop.run_in_executor(None, self.ingest_pool.shutdown, True)
        await loop.run_in_executor(None, self.drain_pool.shutdown, True)
        self.app.close()


def _start_sender(app: App, stop: asyncio.Event, wake: asyncio.Event | None = None
                  ) -> asyncio.Task[None]:
    """Start the outbound sender (auto-responses, notifications, answers) until `stop`;
    `wake` ends its idle waits. It is part of every build: a failing import is a packaging
    error, never a reason to run on with mail silently piling up in the outbox."""
    from maildesk.outbound.sender import run_sender

    task = asyncio.create_task(run_sender(app, stop, wake=wake), name="outbound-sender")
    task.add_done_callback(_log_crash)
    return task


def _start_scheduler(app: App, stop: asyncio.Event) -> asyncio.Task[None]:
    """Due times (SPEC 13): reminders, auto-close, escalations, levels, lock timeouts."""
    from maildesk.timers.scheduler import run_scheduler

    task = asyncio.create_task(run_scheduler(app, stop), name="timers")
    task.add_done_callback(_log_crash)
    return task


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped with an error", task.get_name(), exc_info=task.exception())


def _where(server: asyncio.Server) -> str:
    names = [sock.getsockname() for sock in server.sockets]
    return ", ".join(f"{n[0]}:{n[1]}" if isinstance(n, tuple) else f"unix:{n}" for n in names)


def _setup_logging() -> None:
    """One line per event on stderr (journald adds its own timestamps under systemd)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        stamp = "" if os.environ.get("JOURNAL_STREAM") else "%(asctime)s "
        handler.setFormatter(logging.Formatter(stamp + "%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: a line per command
