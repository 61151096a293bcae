"""Mailboxes (SPEC 17): a thin entrance that fetches raw mail from IMAP and POP3 accounts and
hands each one to `App.ingest`, the same door SMTP, LMTP and `maildesk deliver` use.

The order that keeps a mail from being lost or doubled: fetch (BODY.PEEK, nothing changes on
the server) -> ingest commits the ticket -> the fetch position (IMAP UID, POP3 UIDL) commits
-> only then delete, move or flag on the server. A crash anywhere in between refetches at
most, and the pipeline's raw-sha256 dedupe makes the refetch a no-op.

Modules: `credentials` (password and token files), `imap` and `pop3` (one blocking
session each, run in a thread), `sync` (one pass over one mailbox), `state` (the database
rows: position, lease, status), `runner` (the asyncio tasks of `serve` and `fetch`).
"""

from __future__ import annotations

__all__: list[str] = []
