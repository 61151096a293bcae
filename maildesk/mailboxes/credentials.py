"""Secrets of a mailbox, read from files at every connect so an admin (or a cron job that
refreshes an OAuth2 token) can change them without a reload."""

from __future__ import annotations

import json
from pathlib import Path

from maildesk.config import Mailbox
from maildesk.errors import Unavailable

__all__ = ["AuthError", "Credentials", "read_credentials", "xoauth2"]


class AuthError(Unavailable):
    """The server refused the login, or the secret cannot be read: retried slowly."""


class Credentials:
    def __init__(self, username: str, password: str | None, token: str | None) -> None:
        self.username = username
        self.password = password
        self.token = token

    def __repr__(self) -> str:  # never a secret in a log line or a traceback
        kind = "oauth2" if self.token is not None else "password"
        return f"Credentials({self.username!r}, {kind})"


def read_credentials(mailbox: Mailbox) -> Credentials:
    if mailbox.oauth2_token_file is not None:
        return Credentials(mailbox.username, None, _token(mailbox.oauth2_token_file))
    assert mailbox.password_file is not None  # the config requires one of the two
    return Credentials(mailbox.username, _first_line(mailbox.password_file), None)


def _first_line(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthError(f"cannot read {path}: {exc}") from None
    secret = text.splitlines()[0] if text.splitlines() else ""
    if not secret:
        raise AuthError(f"{path} is empty")
    return secret


def _token(path: Path) -> str:
    """The access token alone on the first line, or a JSON object with `access_token` (what
    the token endpoints of Microsoft and Google answer, saved as it came)."""
    text = _first_line(path) if not path.suffix == ".json" else None
    if text is not None and not text.lstrip().startswith("{"):
        return text.strip()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        token = data["access_token"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AuthError(f"{path}: no access_token in it ({exc})") from None
    if not isinstance(token, str) or not token:
        raise AuthError(f"{path}: access_token is empty")
    return token


def xoauth2(username: str, token: str) -> bytes:
    """The SASL XOAUTH2 initial response (before base64), as Google and Microsoft define it."""
    return f"user={username}\x01auth=Bearer {token}\x01\x01".encode()
