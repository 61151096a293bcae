"""The process's holder of the current `Runtime`, and the intake entry.

`App.runtime` is the frozen runtime of the moment (`maildesk.bootstrap` builds it); a
reload builds a new one and swaps it with one assignment. `App.ingest` captures it once
per mail, so a mail sees one config from start to end. `config`, `db`, `store`, `secret`
and the spools remain as read-through properties: a compatibility surface for code that
still takes the `App`, migrating to take what it uses.

`App.ingest` is the single entry every intake path uses (`maildesk deliver`, the SMTP and
LMTP daemon, the spool drain). It keeps SPEC section 2's promise: it returns a 2xx Outcome
only once the mail is durable, in the database or in a spool, and never raises.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text as sql_text

from maildesk import bootstrap
from maildesk.config import Config
from maildesk.intake.message import Envelope
from maildesk.intake.spool import Spool
from maildesk.outcome import Outcome, deferred
from maildesk.runtime import Runtime
from maildesk.store.articles import ArticleStore
from maildesk.store.db import Database
from maildesk.store.dberrors import is_transient
from maildesk.timers.hooks import install as install_timer_hooks

if TYPE_CHECKING:
    from maildesk.pipeline import Prepared

__all__ = ["App", "open_app"]

log = logging.getLogger("maildesk.ingest")


class App:
    def __init__(self, config: Config, db: Database | None = None) -> None:
        self.runtime: Runtime = bootstrap.build(config, db)
        self._drain_lock = threading.Lock()
        # Told of every ingest result and its duration in seconds (serve's metrics); it must
        # not raise, and it runs on the ingest thread.
        self.observe: Callable[[Outcome, float], None] | None = None
        # Called after a commit that wrote a due time (maildesk.timers.hooks): the daemon's
        # scheduler sets it to be woken when that is earlier than its plan.
        self.due_written: Callable[[datetime], None] | None = None
        install_timer_hooks(self)

    # -- configuration -------------------------------------------------------------------

    def reload(self, config: Config) -> None:
        """Swap in a validated config: one assignment of a new runtime (the database stays
        unless its settings changed). Mails in flight finish on the runtime they took."""
        old = self.runtime
        self.runtime = new = bootstrap.rebuild(old, config)
        if new.db is not old.db:
            install_timer_hooks(self)
            old.db.dispose()  # connections in use return to a disposed pool and close

    # -- the current runtime, read through (the compatibility surface) --------------------

    @property
    def config(self) -> Config:
        return self.runtime.config

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def store(self) -> ArticleStore:
        return self.runtime.store

    @property
    def inbound(self) -> Spool:
        return self.runtime.spools.inbound

    @property
    def failed(self) -> Spool:
        return self.runtime.spools.failed

    @property
    def unmatched(self) -> Spool:
        return self.runtime.spools.unmatched  # bounces that match no ticket

    @property
    def secret(self) -> bytes:
        """The instance secret for reply tokens (`maildesk init` writes it). Missing or
        empty raises: an empty key would make every reply token fail, silently."""
        return self.runtime.secret

    def accepts(self, address: str) -> bool:
        return self.config.is_system_address(address)

    # -- intake --------------------------------------------------------------------------

    def ingest(self, raw: bytes, envelope: Envelope, *, spool_transient: bool = True,
               rt: Runtime | None = None, prepared: Prepared | None = None) -> Outcome:
        """Process one mail; durable before any 2xx; never raises.

        A temporary failure (database away, disk full) spools the mail for the daemon to
        drain, or with `spool_transient=False` answers 451 for the sender to retry. `rt`:
        the runtime the caller's unit of work captured (a mailbox poll), else this
        moment's. `prepared`: the mail already parsed and classified on its runtime (a
        group commit's lone mail), not parsed again."""
        from maildesk.pipeline import process, process_prepared

        started = time.perf_counter()
        # once: this mail sees one config, whatever a reload does
        rt = prepared.rt if prepared is not None else rt or self.runtime
        try:
            outcome = (process(rt, raw, envelope) if prepared is None
                       else process_prepared(prepared))
        except Exception as exc:
            if is_transient(exc) and not spool_transient:
                log.warning("temporary failure, the sender will retry: %s", exc)
                outcome = deferred("Temporary failure storing the message, try again later")
            else:
                outcome = self._after_failure(rt, raw, envelope, exc)
        self.report(outcome, raw, envelope, time.perf_counter() - started)
        return outcome

    def report(self, outcome: Outcome, raw: bytes, envelope: Envelope, seconds: float) -> None:
        """The log line and the metrics of one mail's result (every intake path)."""
        ms = seconds * 1000
        if self.observe is not None:
            self.observe(outcome, seconds)
        log.info(
            "mail result=%s ticket=%s queue=%s msgid=<%s> code=%d sender=<%s> rcpt=%s "
            "size=%d ms=%.1f",
            outcome.result, outcome.ticket or "-", _field(outcome.queue or "-"),
            _field(outcome.message_id or header_message_id(raw) or ""), outcome.code,
            _field(envelope.sender), _field(",".join(envelope.recipients)), len(raw), ms,
        )

    def _after_failure(self, rt: Runtime, raw: bytes, envelope: Envelope,
                       exc: Exception) -> Outcome:
        if is_transient(exc):  # the database or the disk, not the mail: try again later
            return self._spool(rt.spools.inbound, raw, envelope, f"temporary failure: {exc}",
                               "spooled", "2.0.0 Ok: queued (storage busy or away)")
        # A bug must not lose the mail nor punish the sender.
        log.error("processing failed, mail moved to the failed-spool: %s\n%s",
                  exc, traceback.format_exc())
        return self._spool(rt.spools.failed, raw, envelope, f"{type(exc).__name__}: {exc}",
                           "quarantined", "2.0.0 Ok: kept for review")

    def _spool(self, spool: Spool, raw: bytes, envelope: Envelope, reason: str,
               result: str, text: str) -> Outcome:
        try:
            spool_id = spool.put(raw, envelope, reason)
        except OSError as exc:
            log.error("could not spool mail: %s", exc)
            return deferred("Cannot store the message now, try again later")
        log.warning("mail spooled to %s as %s: %s", spool.folder.name, spool_id, reason)
        return Outcome(result, 250, text)

    def drain_inbound(self, limit: int | None = None) -> int:
        """Process spooled mails in arrival order; stop at the first temporary failure
        while the database is away (`maildesk.redeliver` decides each mail)."""
        from maildesk.redeliver import redeliver

        done = 0
        with self._drain_lock:
            for spool_id in self.inbound.ids():
                if limit is not None and done >= limit:
                    break
                rt = self.runtime  # once per mail
                result = redeliver(rt, rt.spools.inbound, spool_id, database_up=self._healthy)
                if result.status == "waiting":
                    break  # still away: keep the order, try again later
                done += 1
        return done

    def _healthy(self) -> bool:
        """The database answers and the data folder takes a write."""
        try:
            with self.db.reading() as session:
                session.execute(sql_text("SELECT 1"))
            probe = self.config.storage.path / ".probe"
            probe.write_bytes(b"x")
            probe.unlink()
        except Exception:
            return False
        return True

    def close(self) -> None:
        self.db.dispose()


def _field(value: str) -> str:
    """One token of the log line: no spaces or control characters, at most 200 characters
    (a hostile Message-ID or address must not forge a second line or field)."""
    value = value[:200]
    if value.isprintable():  # nearly always: the one printable white space is " "
        return value.replace(" ", "?")
    return "".join(c if c.isprintable() and not c.isspace() else "?" for c in value)


def header_message_id(raw: bytes) -> str | None:
    """The Message-ID from the header block, for mails the pipeline never parsed."""
    import re

    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    found = re.search(rb"(?im)^message-id:[ \t]*<?([^>\r\n]*)>?", head[:65536])
    return found.group(1).decode("utf-8", "replace").strip() if found else None


def open_app(config: Config) -> App:
    from maildesk.store.articles import make_dirs_durably

    make_dirs_durably(config.storage.path)
    return App(config)


def ensure_secret(path: Path) -> None:
    """Create the HMAC secret once, readable only by its owner."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
