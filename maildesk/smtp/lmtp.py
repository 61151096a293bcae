"""LMTP (RFC 2033): the SMTP session with LHLO, and one reply per accepted recipient.

The per-recipient replies come from `MaildeskSMTP.smtp_DATA`; aiosmtpd's own `LMTP` class
sends a single reply (its issue #517), which makes a multi-recipient LMTP client such as
Postfix wait for replies that never come. Every accepted recipient gets the same reply
because the mail is stored once, atomically, for all of them.
"""

from __future__ import annotations

from aiosmtpd.smtp import syntax

from maildesk.smtp.server import MaildeskSMTP

__all__ = ["MaildeskLMTP"]


class MaildeskLMTP(MaildeskSMTP):
    per_recipient_replies = True

    @syntax("LHLO hostname")
    async def smtp_LHLO(self, arg: str) -> None:
        """The LMTP greeting, used instead of HELO/EHLO."""
        await super().smtp_EHLO(arg)

    async def smtp_HELO(self, hostname: str) -> None:
        await self.push('500 5.5.1 Error: command "HELO" not recognized, use LHLO')

    async def smtp_EHLO(self, hostname: str) -> None:
        await self.push('500 5.5.1 Error: command "EHLO" not recognized, use LHLO')
