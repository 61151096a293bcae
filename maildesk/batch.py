"""Group commit for the daemon's ingest: every mail waiting goes into one transaction.

One commit (one WAL fsync on SQLite, one round of article-file fsyncs side by side) then
serves a whole batch instead of one mail. The mails run one after the other without
savepoints; when one fails, the batch runs again with a savepoint per mail, so a
mail that fails rolls back alone and is run again by itself (`App.ingest`, which spools or
quarantines it as before). Every mail's future, and so its SMTP client's 250, is resolved
only after the commit that holds it. A batch that fails as a whole (a lost race, the
database away, the commit itself) leaves nothing behind and each of its mails runs alone.

The batcher is a `concurrent.futures.Executor`: the daemon's ingest pool, one thread per
ingest worker (SQLite: one writer, one thread). `$MAILDESK_BATCH` caps a batch (1 turns
group commit off, for measuring).

It lives beside `redeliver.py`, above intake: it drives the pipeline and the database,
which intake (bytes in, values out) must not reach.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from maildesk.intake.message import Envelope
from maildesk.outcome import Outcome, deferred
from maildesk.store.db import is_conflict

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from maildesk.app import App
    from maildesk.pipeline import Prepared
    from maildesk.runtime import Runtime

__all__ = ["Batcher", "MAX_BATCH", "batch_size"]

log = logging.getLogger("maildesk.ingest")

MAX_BATCH = 64  # mails in one commit; beyond that the first mail's wait outgrows the gain
LINGER = 0.002  # seconds a batch waits for more mails, only while mails keep arriving
COMING = 2.5  # times LINGER a batch may wait while mails are known to be on their way


def batch_size() -> int:
    override = os.environ.get("MAILDESK_BATCH", "")
    return int(override) if override.isdigit() and int(override) > 0 else MAX_BATCH


@dataclass
class _Mail:
    raw: bytes
    envelope: Envelope
    future: Future[Outcome]
    queued: float = field(default_factory=time.perf_counter)
    waiter: asyncio.Future[Outcome] | None = None  # submit_mail_async's, on its loop
    posted: bool = False  # its outcome is on its way to `waiter`
    batcher: Batcher | None = None  # whose count of unanswered mails `waiter` is in

    def start(self) -> bool:
        """False when the client gave up while the mail queued (nothing stored then)."""
        if self.waiter is not None and self.waiter.cancelled():
            self.future.cancel()
        return self.future.set_running_or_notify_cancel()


@dataclass
class _Call:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    future: Future[Any]


class Batcher(Executor):
    """The ingest threads: `submit_mail` queues a mail; a thread takes all that wait."""

    def __init__(self, app: App, workers: int = 1, max_batch: int | None = None,
                 linger: float = LINGER, transactions: Callable[[], int] | None = None
                 ) -> None:
        self.app = app
        self.max_batch = max_batch or batch_size()
        self.linger = linger
        # The entrances' sessions inside a transaction (smtp.server.Sessions): with the
        # mails queued and not yet answered, the mails on their way, which a batch waits
        # for. Both counts change on the event loop only; this thread reads them.
        self._transactions = transactions
        self._unanswered = 0  # submit_mail_async's mails whose waiter is not resolved
        self._queue: queue.SimpleQueue[_Mail | _Call | None] = queue.SimpleQueue()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"maildesk-ingest-{n}",
                                          daemon=True) for n in range(workers)]
        for thread in self._threads:
            thread.start()

    # -- Executor --------------------------------------------------------------------------

    def submit_mail(self, raw: bytes, envelope: Envelope) -> Future[Outcome]:
        """The mail's Outcome, set only once the mail is durable (or refused)."""
        if self._closed:
            raise RuntimeError("the ingest batcher is shut down")
        future: Future[Outcome] = Future()
        self._queue.put(_Mail(raw, envelope, future))
        return future

    def submit_mail_async(self, raw: bytes, envelope: Envelope) -> asyncio.Future[Outcome]:
        """`submit_mail` for the event loop (call it there): the outcomes of a batch reach
        the loop with one `call_soon_threadsafe` instead of one per mail. The daemon runs
        on one core: each of those hops woke the loop, a context switch and a GIL hand-off
        away from the ingest thread."""
        if self._closed:
            raise RuntimeError("the ingest batcher is shut down")
        waiter: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._unanswered += 1
        self._queue.put(_Mail(raw, envelope, Future(), waiter=waiter, batcher=self))
        return waiter

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Any other work: run alone on an ingest thread, in arrival order."""
        if self._closed:
            raise RuntimeError("the ingest batcher is shut down")
        future: Future[Any] = Future()
        self._queue.put(_Call(fn, args, kwargs, future))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """What is queued still runs (its senders wait on it); then the threads end."""
        if not self._closed:
            self._closed = True
            for _ in self._threads:
                self._queue.put(None)
        if wait:
            for thread in self._threads:
                thread.join()

    # -- the worker ------------------------------------------------------------------------

    def _work(self) -> None:
        last = 1
        while True:
            first = self._queue.get()
            if first is None:
                return
            items, stop = self._collect(first, linger=last > 1, expect=last)
            mails = [item for item in items if isinstance(item, _Mail)]
            last = len(mails)
            if mails:
                try:
                    self._run_batch(mails)
                except Exception:  # a bug here must not leave a client waiting forever
                    log.exception("the ingest batch failed")
                    for mail in mails:
                        if not mail.future.done():
                            mail.future.set_result(deferred(
                                "Temporary failure storing the message, try again later"))
                _post(mails)
            for item in items:
                if isinstance(item, _Call):
                    _run_call(item)
            if stop:
                return

    def _collect(self, first: _Mail | _Call, *, linger: bool, expect: int = 0
                 ) -> tuple[list[_Mail | _Call], bool]:
        """What waits now, up to a batch; under load a few ms more for late arrivals.

        Where the sessions say how many mails are on their way (`_coming`), up to
        `COMING` lingers for those and not a moment for others. Else only until as many
        have come as the last batch held (`expect`): a steady set of clients sends its
        next mails within a fraction of a ms of their 250s, and waiting out the rest of
        the linger left the core idle ~2 ms a batch. But `expect` settled into halves on
        a slower core: eight clients' mails took over 2 ms to arrive, a batch of four
        started, and each batch then expected four (issue 20: 4.7 mails a batch)."""
        items: list[_Mail | _Call] = [first]
        coming = self._coming
        if coming is not None:
            deadline = time.monotonic() + self.linger * COMING
        else:
            deadline = time.monotonic() + self.linger if linger else 0.0
        while len(items) < self.max_batch:
            if (len(items) >= expect) if coming is None else coming() <= 0:
                deadline = 0.0
            try:
                wait = deadline - time.monotonic()
                item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return items, True
            items.append(item)
        return items, False

    @property
    def _coming(self) -> Callable[[], int] | None:
        """How many mails the entrances have on their way, when they say (else None)."""
        transactions = self._transactions
        if transactions is None:
            return None
        return lambda: transactions() - self._unanswered

    def _run_batch(self, mails: list[_Mail]) -> None:
        """The batch's mails, each template's file looked at once for all of them (the
        check at ingest that a mail's template still compiles stats it otherwise, per
        mail, issue 20): a template edited while maildesk runs is the next batch's."""
        from maildesk.outbound.templating import checked_once

        with checked_once():
            self._run_mails(mails)

    def _run_mails(self, mails: list[_Mail]) -> None:
        from maildesk.pipeline import prepare

        app = self.app
        rt = app.runtime  # once per batch: every mail of it sees one config
        ready: list[tuple[_Mail, Prepared]] = []
        alone: list[tuple[_Mail, Prepared | None]] = []
        for mail in mails:
            if not mail.start():
                continue
            try:
                prepared = prepare(rt, mail.raw, mail.envelope)
            except Exception:
                alone.append((mail, None))  # App.ingest says what is wrong with it
                continue
            if isinstance(prepared, Outcome):
                self._done(mail, prepared)
            else:
                ready.append((mail, prepared))
        if len(ready) == 1:  # no batch: its own transaction, its parse kept (issue 20:
            alone.append(ready.pop())  # under a light load every mail comes alone)
        if ready:
            try:
                outcomes = self._commit(rt, ready)
            except Exception as exc:
                log.warning("group commit of %d mails failed (%s: %s); each runs alone",
                            len(ready), type(exc).__name__, exc)
                outcomes = [None] * len(ready)
            for (mail, prepared), outcome in zip(ready, outcomes, strict=True):
                if outcome is None:
                    alone.append((mail, None))  # parsed anew: its attempt may have left marks
                    continue
                try:
                    outcome = prepared.finish(outcome)
                except OSError as exc:  # the bounce spool: stored in no ticket, say so
                    log.error("could not keep an unmatched bounce: %s", exc)
                    outcome = Outcome("deferred", 451, "4.3.0 Cannot store the message now")
                self._done(mail, outcome)
        _post(mails)  # the batch's acknowledgements now; a mail that runs alone after
        for mail, parsed in alone:
            mail.future.set_result(app.ingest(mail.raw, mail.envelope, prepared=parsed))
            _post([mail])

    def _commit(self, rt: Runtime, ready: list[tuple[_Mail, Prepared]]
                ) -> list[Outcome | None]:
        """One transaction for the batch; None for a mail that failed in it.

        Optimistic first: the mails one after the other without savepoints (a SAVEPOINT,
        a RELEASE and the session's nested-transaction bookkeeping cost ~0.1 ms a mail,
        issue 20; a mail failing is rare). When one fails, the whole transaction rolls
        back (its ticket numbers on PostgreSQL and MariaDB, taken in transactions of their
        own, stay gaps) and the batch runs again with a savepoint per mail, which finds
        the bad one. A conflict or a transient error ends the batch as it always did."""
        if len(ready) > 1:
            try:
                return self._commit_once(rt, ready, savepoints=False)
            except _MailFailed as failed:
                log.info("a mail failed in a group commit (%s: %s); the batch runs again "
                         "with a savepoint per mail", type(failed.error).__name__,
                         failed.error)
        return self._commit_once(rt, ready, savepoints=True)

    def _commit_once(self, rt: Runtime, ready: list[tuple[_Mail, Prepared]], *,
                     savepoints: bool) -> list[Outcome | None]:
        from maildesk.store.dberrors import is_transient

        outcomes: list[Outcome | None] = []
        with rt.store.deferred() as pending, rt.db.transaction() as session:
            for _mail, prepared in ready:
                if not savepoints:
                    try:
                        outcomes.append(prepared.attempt(session))
                        # what a savepoint's RELEASE flushed: the next mail's Core reads
                        # (already_stored, threading) see this one's rows
                        session.flush()
                    except Exception as exc:
                        if is_conflict(exc) or is_transient(exc):
                            raise
                        raise _MailFailed(exc) from exc  # rolls the transaction back
                    continue
                saved = _snapshot(session)
                savepoint = session.begin_nested()
                try:
                    outcome: Outcome | None = prepared.attempt(session)
                    savepoint.commit()
                except Exception as exc:
                    if is_conflict(exc) or is_transient(exc):
                        raise  # the whole transaction is suspect (MariaDB ends it)
                    savepoint.rollback()
                    _restore(session, saved)
                    log.warning("a mail failed in its savepoint (%s: %s); it runs alone",
                                type(exc).__name__, exc)
                    outcome = None
                outcomes.append(outcome)
            session.flush()
            pending.flush(session)  # every article durable before the commit points at it
        return outcomes

    def _done(self, mail: _Mail, outcome: Outcome) -> None:
        self.app.report(outcome, mail.raw, mail.envelope, time.perf_counter() - mail.queued)
        mail.future.set_result(outcome)


class _MailFailed(Exception):
    """A mail of an optimistic group commit raised `error`: the batch runs again."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _post(mails: list[_Mail]) -> None:
    """The outcomes of `mails` settled so far to their event loops, one hop per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Mail]] = {}
    for mail in mails:
        if mail.waiter is not None and not mail.posted and mail.future.done():
            mail.posted = True
            by_loop.setdefault(mail.waiter.get_loop(), []).append(mail)
    for loop, ready in by_loop.items():
        try:
            loop.call_soon_threadsafe(_deliver, ready)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass


def _deliver(mails: list[_Mail]) -> None:
    """On the loop: each waiter gets its mail's outcome (a cancelled one is skipped)."""
    for mail in mails:
        if mail.batcher is not None:
            mail.batcher._unanswered -= 1
        if mail.waiter is not None and not mail.waiter.done():
            if mail.future.cancelled():
                mail.waiter.cancel()
            elif (error := mail.future.exception()) is not None:
                mail.waiter.set_exception(error)
            else:
                mail.waiter.set_result(mail.future.result())


def _run_call(call: _Call) -> None:
    if not call.future.set_running_or_notify_cancel():
        return
    try:
        call.future.set_result(call.fn(*call.args, **call.kwargs))
    except BaseException as exc:
        call.future.set_exception(exc)


def _snapshot(session: Session) -> dict[str, Any]:
    """What session hooks collected so far (the timers' touched tickets), to forget what
    a rolled-back savepoint added."""
    return {key: dict(value) if isinstance(value, dict) else value
            for key, value in session.info.items()}


def _restore(session: Session, saved: dict[str, Any]) -> None:
    session.info.clear()
    session.info.update(saved)
