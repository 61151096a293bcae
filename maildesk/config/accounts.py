"""The value of one `mailboxes:` entry (an IMAP or POP3 account) and its documented keys;
maildesk.config.mailboxes reads the YAML into it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

__all__ = ["MAILBOX_KEYS", "Mailbox"]


@dataclass(frozen=True)
class Mailbox:
    """One IMAP or POP3 account fetched into the pipeline (SPEC 17), read by
    maildesk.config.mailboxes: its `url` and `after` keys give several fields each."""

    name: str
    protocol: str  # imap | pop3
    security: str  # tls (imaps, pop3s) | starttls (imap, pop3) | plain (imap+plain, ...)
    host: str
    port: int
    username: str
    folder: str  # IMAP folder ("INBOX"); "" for POP3
    recipient: str  # the queue address it stands for: the envelope recipient
    password_file: Path | None = None
    oauth2_token_file: Path | None = None
    after: str = "seen"  # delete | seen | move
    move_to: str = ""  # the folder of `after: move:FOLDER`
    idle: bool = True
    poll_every: float = 60.0
    since: date | None = None
    tls_ca_file: Path | None = None
    batch: int = 100
    timeout: float = 60.0
    line: int = 0

    @property
    def url(self) -> str:
        """The account without secrets, for logs and status."""
        scheme = {
            "tls": f"{self.protocol}s",
            "starttls": self.protocol,
            "plain": f"{self.protocol}+plain",
        }[self.security]
        folder = f"/{self.folder}" if self.folder else ""
        return f"{scheme}://{self.username}@{self.host}:{self.port}{folder}"


# A mailbox's keys (their readers are in maildesk.config.mailboxes).
MAILBOX_KEYS = {
    "name": "the mailbox's name in logs, `maildesk fetch NAME` and `fetch --status`",
    "url": "imaps://user%40example.com@host:993/INBOX (imap, imap+plain, pop3s, pop3 ...)",
    "password_file": "a file holding the password (or oauth2_token_file)",
    "oauth2_token_file": "a file holding an OAuth2 access token (XOAUTH2)",
    "recipient": "the queue address the mail is delivered to",
    "after": "delete | seen | move:FOLDER, once the mail is stored",
    "idle": "IMAP IDLE instead of polling",
    "poll_every": "pause between polls",
    "since": "only mail from this date on (2026-01-01)",
    "tls_ca_file": "CA bundle for a private certificate",
    "batch": "mails per fetch, 1-10000",
    "timeout": "network timeout",
}
