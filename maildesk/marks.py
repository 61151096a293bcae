"""The marks maildesk puts on mail and recognises again, defined once for intake and outbound:
the subject tag, the X-Loop value, reply prefixes, and the local parts of robots.
"""

from __future__ import annotations

import re
from functools import lru_cache

from maildesk.config import Config

__all__ = [
    "REPLY_PREFIX",
    "is_system_sender",
    "loop_value",
    "loose_tag_pattern",
    "strip_reply_prefixes",
    "subject_tag",
    "tag_pattern",
]

# RFC 3834 §2 and Zammad's list: robots that must never get an answer.
_SYSTEM_LOCAL = re.compile(
    r"(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|abuse|root|"
    r"owner-.*|.*-request|.*-owner|listserv|majordomo)",
    re.IGNORECASE,
)
# Reply and forward prefixes of the mail clients our customers use, with Outlook's `RE[2]:`
# counters and the full-width colon of CJK clients: "Re: AW: 回复：x" -> "x".
REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|antw|rv|r|sv|vs|fwd?|wg|tr|enc|回复|答复|回覆|转发)\s*(?:\[\d+\])?\s*[:：]\s*)+",
    re.IGNORECASE,
)


def is_system_sender(address: str) -> bool:
    """mailer-daemon@, postmaster@, no-reply@, owner-*, *-request and their kin."""
    local = address.partition("@")[0].split("+", 1)[0]
    return bool(local) and _SYSTEM_LOCAL.fullmatch(local) is not None


def loop_value(config: Config) -> str:
    """The X-Loop value our mails carry, recognised again when one comes back."""
    return config.instance.domain or config.instance.name


def strip_reply_prefixes(subject: str) -> str:
    return REPLY_PREFIX.sub("", subject).strip()


@lru_cache(maxsize=64)
def tag_pattern(hook: str) -> re.Pattern[str]:
    """`[Ticket#N]` with any spacing and case, anywhere in the subject."""
    parts = r"\s*".join(re.escape(c) for c in hook.strip() if not c.isspace())
    return re.compile(r"\[\s*" + parts + r"\s*:?\s*(\d{1,32})\s*\]", re.IGNORECASE)


@lru_cache(maxsize=16)
def loose_tag_pattern(hook: str) -> re.Pattern[str]:
    """OTRS's unbracketed forms `Ticket#: N`, `Ticket#:N`, `Ticket#N` (its PostMaster
    accepts them as follow-ups): the hook as a word of its own, the number not part of a
    longer one. Only tried when no bracketed tag is found."""
    parts = r"\s*".join(re.escape(c) for c in hook.strip() if not c.isspace())
    return re.compile(r"(?<!\w)" + parts + r"[ \t]*:?[ \t]*(\d{1,32})(?!\d)", re.IGNORECASE)


def subject_tag(hook: str, number: str) -> str:
    return f"[{hook}{number}]"
