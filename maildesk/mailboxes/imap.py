"""One IMAP connection of one mailbox, with imapclient (BSD; blocking, so it runs in the
mailbox's own thread). Only IMAP is spoken here; what to do with a mail is `sync`'s."""

from __future__ import annotations

import logging
import socket
import time
from datetime import date
from typing import Any

from imapclient import IMAPClient  # type: ignore[import-untyped]
from imapclient.exceptions import (  # type: ignore[import-untyped]
    IMAPClientError,
    LoginError,
)

from maildesk.config import Mailbox
from maildesk.mailboxes.credentials import AuthError, read_credentials
from maildesk.mailboxes.tls import tls_context

__all__ = ["ImapSession"]

log = logging.getLogger("maildesk.mailboxes")

IDLE_RENEW = 25 * 60.0  # RFC 2177: re-issue IDLE before the server's 30-minute timeout


class ImapSession:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        self.client: IMAPClient | None = None
        self.uidvalidity = 0
        self._idle_since: float | None = None

    def connect(self) -> None:
        mb = self.mailbox
        context = tls_context(mb) if mb.security != "plain" else None
        client = IMAPClient(mb.host, mb.port, ssl=mb.security == "tls", ssl_context=context,
                            timeout=mb.timeout)
        self.client = client
        if mb.security == "starttls":
            client.starttls(context)  # raises when the server does not offer it: never plain
        creds = read_credentials(mb)
        try:
            if creds.token is not None:
                client.oauth2_login(creds.username, creds.token)
            else:
                assert creds.password is not None
                client.login(creds.username, creds.password)
        except LoginError as exc:
            raise AuthError(f"login refused for {creds.username}: {_text(exc)}") from None
        if mb.after == "move" and not client.folder_exists(mb.move_to):
            log.info("mailbox %s: creating folder %s for processed mail", mb.name, mb.move_to)
            client.create_folder(mb.move_to)
        self.select()

    def select(self) -> int:
        info = self._client.select_folder(self.mailbox.folder)
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        return self.uidvalidity

    @property
    def _client(self) -> IMAPClient:
        if self.client is None:
            raise ConnectionError("not connected")
        return self.client

    @property
    def can_idle(self) -> bool:
        return self.mailbox.idle and self._client.has_capability("IDLE")

    def search(self, first: int, last: int | None = None, since: date | None = None,
               ) -> list[int]:
        """UIDs in first..last (or first..*), oldest first. `n:*` always matches the highest
        UID, even one below n (RFC 3501), hence the filter."""
        criteria: list[Any] = ["UID", f"{first}:{'*' if last is None else last}"]
        if since is not None:
            criteria += ["SINCE", since]
        uids = self._client.search(criteria)
        return sorted(u for u in uids if u >= first and (last is None or u <= last))

    def fetch(self, uids: list[int]) -> dict[int, bytes]:
        """Whole messages, byte for byte; PEEK leaves \\Seen alone until after the commit."""
        if not uids:
            return {}
        data = self._client.fetch(uids, ["BODY.PEEK[]"])
        return {uid: bytes(item[b"BODY[]"]) for uid, item in data.items() if b"BODY[]" in item}

    def message_ids(self, uids: list[int]) -> dict[int, str]:
        """Message-IDs without <>, for the recheck after a UIDVALIDITY change."""
        if not uids:
            return {}
        data = self._client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        out: dict[int, str] = {}
        for uid, item in data.items():
            raw = next((v for k, v in item.items() if k.startswith(b"BODY[HEADER")), b"")
            value = bytes(raw or b"").decode("ascii", "replace").partition(":")[2]
            value = " ".join(value.split()).strip().strip("<>").strip()
            if value:
                out[uid] = value
        return out

    def finish(self, uids: list[int]) -> None:
        """After the commit: move, delete or flag the stored mails."""
        if not uids:
            return
        client, mb = self._client, self.mailbox
        if mb.after == "seen":
            client.add_flags(uids, [b"\\Seen"])
        elif mb.after == "move" and client.has_capability("MOVE"):
            client.move(uids, mb.move_to)
        else:
            if mb.after == "move":
                client.copy(uids, mb.move_to)
            client.delete_messages(uids)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(uids)
            else:
                client.expunge()

    def wait(self, seconds: float) -> bool:
        """IDLE for up to `seconds`; True when the server announced new mail (IDLE is then
        ended). Otherwise IDLE stays open across calls, re-issued after IDLE_RENEW; any
        other command must come after `end_idle`."""
        client = self._client
        if not self.can_idle:
            return False
        if self._idle_since is None:
            client.idle()
            self._idle_since = time.monotonic()
        started = time.monotonic()
        responses = client.idle_check(timeout=seconds)
        news = any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)
        # imapclient returns [] at once on a dropped connection: ending IDLE raises then.
        early = not responses and time.monotonic() - started < seconds / 2
        if news or early or time.monotonic() - self._idle_since >= IDLE_RENEW:
            self.end_idle()
        return news

    def end_idle(self) -> None:
        if self._idle_since is not None:
            self._idle_since = None
            self._client.idle_done()

    def noop(self) -> None:
        self._client.noop()

    def interrupt(self) -> None:
        """From another thread: wake a blocked read (IDLE) by shutting the socket down."""
        client = self.client
        if client is None:
            return
        try:
            client.socket().shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.logout()
        except (IMAPClientError, OSError):
            try:
                client.shutdown()
            except (IMAPClientError, OSError):
                pass


def _text(exc: Exception) -> str:
    text = str(exc)
    return text.decode(errors="replace") if isinstance(text, bytes) else text
