"""The composition root: one App per process holds the config, database, stores and spools.

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
from pathlib import Path

from maildesk.config import Config
from maildesk.intake.message import Envelope
from maildesk.intake.spool import Spool
from maildesk.outcome import Outcome, deferred
from maildesk.store.articles import ArticleStore
from maildesk.store.db import TRANSIENT_ERRORS, Database

__all__ = ["App", "open_app"]

log = logging.getLogger("maildesk.ingest")


class App:
    def __init__(self, config: Config, db: Database | None = None) -> None:
        self.config = config
        self.db = db or Database(config.database)
        self.store = ArticleStore(config.storage.path, config.storage.articles)
        spool_root = config.storage.path / "spool"
        self.inbound = Spool(spool_root / "inbound")
        self.failed = Spool(spool_root / "failed")
        self.unmatched = Spool(spool_root / "unmatched")  # bounces that match no ticket
        self._drain_lock = threading.Lock()
        self._secret: bytes | None = None

    # -- configuration -------------------------------------------------------------------

    def reload(self, config: Config) -> None:
        """Swap in a validated config; the database stays unless its URL changed."""
        if config.database != self.config.database:
            old, self.db = self.db, Database(config.database)
            old.dispose()
        self.config = config
        self.store = ArticleStore(config.storage.path, config.storage.articles)
        self._secret = None

    @property
    def secret(self) -> bytes:
        """The instance secret for reply tokens (`maildesk init` writes it)."""
        if self._secret is None:
            path = self.config.instance.secret_file
            self._secret = path.read_bytes().strip() if path.exists() else b""
        return self._secret

    def accepts(self, address: str) -> bool:
        return self.config.is_system_address(address)

    # -- intake --------------------------------------------------------------------------

    def ingest(self, raw: bytes, envelope: Envelope) -> Outcome:
        """Process one mail; durable before any 2xx; never raises."""
        from maildesk.pipeline import process

        started = time.perf_counter()
        try:
            outcome = process(self, raw, envelope)
        except TRANSIENT_ERRORS as exc:
            outcome = self._spool(self.inbound, raw, envelope, f"database unavailable: {exc}",
                                  "spooled", "2.0.0 Ok: queued (database busy or away)")
        except Exception as exc:  # a bug must not lose the mail nor punish the sender
            log.error("processing failed, mail moved to the failed-spool: %s\n%s",
                      exc, traceback.format_exc())
            outcome = self._spool(self.failed, raw, envelope, f"{type(exc).__name__}: {exc}",
                                  "quarantined", "2.0.0 Ok: kept for review")
        ms = (time.perf_counter() - started) * 1000
        log.info(
            "mail result=%s ticket=%s code=%d sender=<%s> rcpt=%s size=%d ms=%.1f",
            outcome.result, outcome.ticket or "-", outcome.code, envelope.sender,
            ",".join(envelope.recipients), len(raw), ms,
        )
        return outcome

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
        """Process spooled mails in arrival order; stop at the first database failure."""
        from maildesk.pipeline import process

        done = 0
        with self._drain_lock:
            for spool_id in self.inbound.ids():
                if limit is not None and done >= limit:
                    break
                mail = self.inbound.get(spool_id)
                try:
                    outcome = process(self, mail.raw, mail.envelope)
                except TRANSIENT_ERRORS:
                    break
                except Exception as exc:
                    log.error("spooled mail %s failed: %s", spool_id, exc)
                    self.failed.put(mail.raw, mail.envelope, f"{type(exc).__name__}: {exc}")
                    outcome = None
                if outcome is not None and outcome.code >= 400 and outcome.code < 500:
                    break
                if outcome is not None and outcome.code >= 500:
                    log.warning("spooled mail %s refused after acceptance: %s", spool_id,
                                outcome.reply)
                self.inbound.remove(spool_id)
                done += 1
        return done

    def close(self) -> None:
        self.db.dispose()


def open_app(config: Config) -> App:
    config.storage.path.mkdir(parents=True, exist_ok=True)
    return App(config)


def ensure_secret(path: Path) -> None:
    """Create the HMAC secret once, readable only by its owner."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
