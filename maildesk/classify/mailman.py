"""Failed recipients by GNU Mailman's bounce detectors (flufl.bounce), for the bounces whose
report names none in a form `dsn` reads.

maildesk's own parse (`dsn`) reads RFC 3464 status blocks and `Final-Recipient` lines; it
keeps the status code and the returned Message-IDs, which flufl.bounce does not give.
flufl.bounce has one detector per non-standard format (qmail, Exim, old Postfix, Yahoo,
GroupWise, Microsoft, the plain-words heuristics ...). On the corpus's bounces with a known
answer (`bench/bounces_flufl.py`, docs/bounces.md) `dsn` found the failed recipient of 20
of 110, `dsn` and then these detectors 81.

The detectors take an `email.message.Message`. They get one built from what the intake
parser kept (headers, the body text, the report's text and status parts, each cut at
`MAX_PART`), never a second parse of the raw mail: the parser's part, depth, size and time
caps hold for this too.
"""

from __future__ import annotations

import logging
from email.message import Message

from maildesk.intake.message import ParsedMail

__all__ = ["MAX_PART", "detected_recipients"]

log = logging.getLogger("maildesk.classify")

MAX_PART = 256 * 1024  # the same cap as dsn.py's: a report's text is a few KiB
_SKIP = frozenset({"content-type", "content-transfer-encoding", "mime-version"})


def detected_recipients(mail: ParsedMail) -> list[str]:
    """The failed recipients the detectors find (temporary and permanent), lowercase; none
    when a detector stumbles on the mail (it is a guess on top of the report)."""
    from flufl.bounce import all_failures  # ~30 ms of imports: only when a bounce comes

    try:
        temporary, permanent = all_failures(_view(mail))
    except Exception as exc:  # noqa: BLE001 - heuristics on hostile mail: never fatal
        log.debug("flufl.bounce failed on %s: %s", mail.message_id, exc)
        return []
    found = []
    for addr in sorted(temporary | permanent):
        text = (addr.decode("utf-8", "replace") if isinstance(addr, bytes) else str(addr))
        text = text.strip().strip("<>").lower()[:254]
        if "@" in text and text not in found:
            found.append(text)
    return found


def _view(mail: ParsedMail) -> Message:
    """A multipart Message of the parsed mail: its headers, the body text, and the text and
    delivery-status parts the parser kept, decoded already."""
    top = Message()
    for name, value in mail.headers:
        if name.lower() not in _SKIP:
            top[name] = value
    multipart = mail.content_type.startswith("multipart/")
    top["Content-Type"] = mail.content_type if multipart else "multipart/mixed"
    parts: list[Message | str] = [_part("text/plain", mail.body[:MAX_PART])]
    for att in mail.attachments:
        if att.content_type.startswith("text/") or att.content_type == "message/delivery-status":
            parts.append(_part(att.content_type,
                               att.data[:MAX_PART].decode("utf-8", "replace")))
    top.set_payload(parts)
    return top


def _part(content_type: str, text: str) -> Message:
    part = Message()
    part["Content-Type"] = content_type
    part.set_payload(text)  # as text: several detectors read get_payload() undecoded
    return part
