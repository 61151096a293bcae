"""One POP3 connection of one mailbox, with the standard library's poplib (blocking, run in
the mailbox's thread). POP3 deletes only at QUIT: a dropped connection deletes nothing."""

from __future__ import annotations

import base64
import poplib
import socket

from maildesk.config import Mailbox
from maildesk.mailboxes.credentials import AuthError, read_credentials, xoauth2
from maildesk.mailboxes.tls import tls_context

__all__ = ["Pop3Session"]

# poplib refuses lines over 2048 bytes, which RFC 5322 allows up to 998 characters but real
# mail (one-line HTML) exceeds: the message would never be fetched. The bound stays.
poplib._MAXLINE = max(poplib._MAXLINE, 1 << 20)  # type: ignore[attr-defined]


class Pop3Session:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        self.pop: poplib.POP3 | None = None

    def connect(self) -> None:
        mb = self.mailbox
        if mb.security == "tls":
            pop: poplib.POP3 = poplib.POP3_SSL(mb.host, mb.port, timeout=mb.timeout,
                                               context=tls_context(mb))
        else:
            pop = poplib.POP3(mb.host, mb.port, timeout=mb.timeout)
        self.pop = pop
        if mb.security == "starttls":
            pop.stls(tls_context(mb))  # raises when the server does not offer it: never plain
        creds = read_credentials(mb)
        try:
            if creds.token is not None:
                sasl = base64.b64encode(xoauth2(creds.username, creds.token)).decode()
                pop._shortcmd(f"AUTH XOAUTH2 {sasl}")  # type: ignore[attr-defined]
            else:
                assert creds.password is not None
                pop.user(creds.username)
                pop.pass_(creds.password)
        except poplib.error_proto as exc:
            raise AuthError(f"login refused for {creds.username}: {_text(exc)}") from None

    @property
    def _pop(self) -> poplib.POP3:
        if self.pop is None:
            raise ConnectionError("not connected")
        return self.pop

    def listing(self) -> list[tuple[int, str]]:
        """(message number, UIDL) of every message, in the server's order."""
        _, lines, _ = self._pop.uidl()
        out: list[tuple[int, str]] = []
        for line in lines:
            number, _, uidl = bytes(line).decode("ascii", "replace").partition(" ")
            out.append((int(number), uidl.strip()))
        return out

    def headers(self, number: int) -> bytes:
        _, lines, _ = self._pop.top(number, 0)
        return b"\r\n".join(lines) + b"\r\n"

    def retrieve(self, number: int) -> bytes:
        """The message as sent, with POP3's dot-stuffing undone (poplib does it)."""
        _, lines, _ = self._pop.retr(number)
        return b"\r\n".join(lines) + b"\r\n"

    def delete(self, number: int) -> None:
        self._pop.dele(number)

    def quit(self) -> None:
        """Ends the session; the deletions marked in it happen now."""
        pop, self.pop = self.pop, None
        if pop is not None:
            pop.quit()

    def interrupt(self) -> None:
        pop = self.pop
        if pop is not None and pop.sock is not None:
            try:
                pop.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        """Without QUIT: marked deletions are forgotten by the server."""
        pop, self.pop = self.pop, None
        if pop is not None:
            try:
                pop.close()
            except OSError:
                pass


def _text(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else exc
    return arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)
