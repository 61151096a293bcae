"""Every reply the SMTP/LMTP layer writes itself, named, so code and tests share one wording.

Replies that come from the pipeline travel as an `Outcome` and are not listed here. Each
carries an RFC 3463 enhanced code: a sending MTA logs it, and a person reading a bounce
sees whether to retry (4.x.x) or to fix something (5.x.x).
"""

from __future__ import annotations

__all__ = [
    "BAD_ADDRESS",
    "BARE_LF",
    "INTERNAL_ERROR",
    "LINE_TOO_LONG",
    "NO_MAIL_TIMEOUT",
    "NO_STORAGE",
    "SHUTTING_DOWN",
    "TOO_BIG",
    "TOO_BIG_AT_MAIL",
    "TOO_SLOW",
    "TOO_MANY_COMMANDS",
    "TOO_MANY_CONNECTIONS",
    "TOO_MANY_RECIPIENTS",
    "UNKNOWN_RECIPIENT",
    "unknown_recipient",
]

# Temporary: the client keeps the mail and retries (RFC 5321 4.2.5).
INTERNAL_ERROR = "451 4.3.0 Internal error, try again later"
NO_STORAGE = "452 4.3.1 Insufficient system storage"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections, try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"
TOO_SLOW = "421 4.4.2 Data arriving too slowly, closing connection"
NO_MAIL_TIMEOUT = "421 4.4.2 Too long without a mail, closing connection"
TOO_MANY_COMMANDS = "421 4.7.0 Too many commands without a mail, closing connection"

# Permanent: said in the dialogue, so the sender's own MTA bounces (no backscatter from us).
UNKNOWN_RECIPIENT = "550 5.1.1 Recipient address rejected: no such mailbox here"
BAD_ADDRESS = "501 5.1.3 Bad address syntax"
TOO_BIG = "552 5.3.4 Message too big for system"
TOO_BIG_AT_MAIL = "552 5.3.4 Message size exceeds fixed maximum message size"
LINE_TOO_LONG = "500 5.5.2 Line too long (see RFC 5321 4.5.3.1.6)"
BARE_LF = "550 5.5.2 Error: bare <LF> received (lines must end with CRLF, RFC 5321 2.3.8)"


def unknown_recipient(address: str) -> str:
    """550 naming the address, as Postfix does; only printable ASCII is echoed."""
    shown = "".join(c for c in address if 32 < ord(c) < 127)[:256]
    return f"550 5.1.1 <{shown}>: Recipient address rejected: no such mailbox here"
