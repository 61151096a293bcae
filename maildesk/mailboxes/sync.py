"""One pass over one mailbox: fetch what is new, hand it to the pipeline, commit the
position, then tidy the server. Blocking; run in the mailbox's thread.

`hand_over` is the whole of the mailbox's say over a mail: it calls `App.ingest`, the door
every intake path uses, with the mailbox's recipient as the envelope.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import date
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from maildesk.config import Mailbox
from maildesk.errors import Unavailable
from maildesk.intake.message import Envelope
from maildesk.mailboxes.imap import ImapSession
from maildesk.mailboxes.pop3 import Pop3Session
from maildesk.mailboxes.state import RENEW_EVERY, MailboxStore
from maildesk.outcome import Outcome

if TYPE_CHECKING:
    from maildesk.app import App
    from maildesk.runtime import Runtime

__all__ = ["Deferred", "Progress", "hand_over", "sync_imap", "sync_pop3"]

log = logging.getLogger("maildesk.mailboxes")

# A UIDL is printable ASCII without spaces (RFC 1939): a leading space marks a mail that
# `since` skipped, which must never be deleted as if it had been stored.
SKIPPED = " "

Progress = Callable[[int, int], None]  # (done, total) after each batch


class Deferred(Unavailable):
    """The pipeline answered 4xx (database away): the mail stays on the server for later."""


_RETURN_PATH = re.compile(rb"^Return-Path:[ \t]*<([^>\r\n]*)>", re.IGNORECASE | re.MULTILINE)


def hand_over(app: App, mailbox: Mailbox, raw: bytes, rt: Runtime | None = None) -> Outcome:
    """The mail into the pipeline, as if it came by SMTP to the mailbox's address, on `rt`
    (the runtime the poll captured; else this moment's).

    A 5xx (a rule's reject, not a mail at all) cannot be answered to anyone: the mail goes to
    the failed-spool with the reason, as a mail refused after acceptance does, never lost."""
    head = raw[: raw.find(b"\r\n\r\n") + 2 if b"\r\n\r\n" in raw else 65536]
    match = _RETURN_PATH.search(head)
    envelope = Envelope(
        sender=match.group(1).decode("ascii", "replace") if match else "",
        recipients=(mailbox.recipient,),
        peer=f"{mailbox.protocol}:{mailbox.name}",
        helo=mailbox.host,
    )
    rt = rt or app.runtime
    outcome = app.ingest(raw, envelope, spool_transient=False, rt=rt)
    if outcome.code >= 500:
        log.warning("mailbox %s: mail refused after fetching, kept in the failed-spool: %s",
                    mailbox.name, outcome.reply)
        rt.spools.failed.put(raw, envelope, f"refused: {outcome.reply}")
    elif outcome.code >= 400:
        raise Deferred(outcome.text)
    return outcome


class _Lease:
    def __init__(self, store: MailboxStore) -> None:
        self.store = store
        self.renewed = time.monotonic()

    def keep(self) -> None:
        if time.monotonic() - self.renewed >= RENEW_EVERY:
            self.store.renew()
            self.renewed = time.monotonic()


def sync_imap(app: App, session: ImapSession, store: MailboxStore, *,
              stop: threading.Event | None = None, progress: Progress | None = None) -> int:
    """Store every new mail of the selected folder; returns how many were handed over."""
    rt = app.runtime  # once per poll: every mail of it sees one config
    mb, lease = session.mailbox, _Lease(store)
    pos = store.position()
    if pos.uidvalidity != session.uidvalidity:
        # A new UIDVALIDITY (the folder was rebuilt, or this is the first run): the old UIDs
        # mean nothing. Mail already stored is recognised by Message-ID before its body is
        # fetched (recheck_below), and by its sha256 in the pipeline after.
        highest = max(session.search(1), default=0) if pos.uidvalidity is not None else 0
        if pos.uidvalidity is not None:
            log.warning("mailbox %s: UIDVALIDITY changed %s -> %s; rechecking %d UIDs by "
                        "Message-ID", mb.name, pos.uidvalidity, session.uidvalidity, highest)
        store.reset(session.uidvalidity, highest)
        pos = store.position()
    if mb.after != "seen" and pos.last_uid:
        # Stored, but the move/delete after the commit did not happen (a crash): do it now.
        leftover = session.search(1, pos.last_uid, since=mb.since)  # not the old ones skipped
        if leftover:
            log.info("mailbox %s: finishing %d mails stored before a crash", mb.name,
                     len(leftover))
            session.finish(leftover)
    new = session.search(pos.last_uid + 1, since=mb.since)
    done_total = 0
    if progress is not None:
        progress(0, len(new))
    for start in range(0, len(new), mb.batch):
        if stop is not None and stop.is_set():
            break
        lease.keep()
        batch = new[start:start + mb.batch]
        known = _already_stored(session, store, [u for u in batch if u <= pos.recheck_below])
        bodies = session.fetch([u for u in batch if u not in known])
        done: list[int] = []
        deferred: Deferred | None = None
        for uid in batch:
            raw = bodies.get(uid)
            if raw is not None:  # None: known already, or expunged by someone meanwhile
                try:
                    hand_over(app, mb, raw, rt)
                except Deferred as exc:
                    deferred = exc
                    break
            done.append(uid)
        if done:
            store.advance(max(done), len(done) - len(known & set(done)))
            session.finish(done)
            done_total += len(done)
        if progress is not None:
            progress(done_total, len(new))
        if deferred is not None:
            raise deferred
    return done_total


def _already_stored(session: ImapSession, store: MailboxStore, uids: list[int]) -> set[int]:
    if not uids:
        return set()
    ids = session.message_ids(uids)
    known = store.known_message_ids(ids.values())
    return {uid for uid, mid in ids.items() if mid[:191] in known}


def sync_pop3(app: App, session: Pop3Session, store: MailboxStore, *,
              stop: threading.Event | None = None, progress: Progress | None = None) -> int:
    """One POP3 session: store what has an unknown UIDL, then QUIT (deletions happen)."""
    rt = app.runtime  # once per poll: every mail of it sees one config
    mb, lease = session.mailbox, _Lease(store)
    listing = session.listing()
    known = store.known_uidls()
    new = [(n, u) for n, u in listing if u not in known and SKIPPED + u not in known]
    if mb.after == "delete":
        for number, uidl in listing:
            if uidl in known:  # stored before a crash, not deleted yet
                session.delete(number)
    done = 0
    if progress is not None:
        progress(0, len(new))
    try:
        for number, uidl in new:
            if stop is not None and stop.is_set():
                break
            lease.keep()
            if mb.since is not None and _older(session.headers(number), mb.since):
                store.add_uidl(SKIPPED + uidl)  # left alone on the server, never fetched
            else:
                hand_over(app, mb, session.retrieve(number), rt)
                store.add_uidl(uidl)
                if mb.after == "delete":
                    session.delete(number)
            done += 1
            if progress is not None and (done % mb.batch == 0 or done == len(new)):
                progress(done, len(new))
    finally:
        session.quit()  # also after a Deferred: what is stored may be deleted
    present = {u for _, u in listing} | {SKIPPED + u for _, u in listing}
    store.forget_uidls(known - present)
    return done


def _older(headers: bytes, since: date) -> bool:
    """A mail whose Date is before `since`; an unreadable Date counts as new (stored)."""
    match = re.search(rb"^Date:[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)", headers,
                      re.IGNORECASE | re.MULTILINE)
    if not match:
        return False
    try:
        when = parsedate_to_datetime(match.group(1).decode("ascii", "replace"))
    except (TypeError, ValueError):
        return False
    return when.date() < since
