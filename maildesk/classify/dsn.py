"""The fields of a delivery report, read from what the parser already extracted.

The parser (maildesk.intake) walked the MIME tree once, within its part, depth, size and
time caps, and kept the report's machine-readable parts as attachments:
message/delivery-status (RFC 3464), text/rfc822-headers and message/rfc822 (the returned
mail). Only those small parts are read here, each with a size cap; the mail is never parsed
a second time.
"""

from __future__ import annotations

import re
from email.message import Message
from email.parser import BytesHeaderParser, Parser
from email.policy import compat32

from maildesk.classify.result import Bounce
from maildesk.intake.message import ParsedMail

__all__ = ["read_report"]

MAX_PART = 256 * 1024  # a status part or a header block is a few KiB; more is junk
MAX_TEXT = 200_000  # characters of body text searched for ids and a status

_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_DSN_STATUS = re.compile(r"^Status:\s*([245]\.\d{1,3}\.\d{1,3})", re.IGNORECASE | re.MULTILINE)
_DSN_RECIPIENT = re.compile(r"^Final-Recipient:\s*[\w-]+\s*;\s*<?([^\s<>]+@[^\s<>]+)",
                            re.IGNORECASE | re.MULTILINE)
_BODY_MSGID = re.compile(r"^\s*Message-ID:\s*<([^<>\s]{1,250})>", re.IGNORECASE | re.MULTILINE)
_NEWLINES = re.compile(r"\r\n?")  # old Macs end lines with CR alone
_BLANK = re.compile(r"\n[ \t]*\n")
_HEADERS = BytesHeaderParser(policy=compat32)
_FIELDS = Parser(policy=compat32)


def read_report(mail: ParsedMail, report: str) -> Bounce:
    """Status, action, failed recipients and returned Message-IDs; tolerant of junk."""
    bounce = Bounce(report=report)
    status_part = False
    for part in mail.attachments:
        ctype = part.content_type
        if ctype == "message/delivery-status":
            status_part = True
            _delivery_status(part.data[:MAX_PART], bounce)
        elif ctype == "text/rfc822-headers" or ctype in ("message/rfc822", "message/global"):
            _returned_ids(_HEADERS.parsebytes(_head(part.data)), bounce)
    texts = [mail.body[:MAX_TEXT]]
    texts += [a.data[:MAX_TEXT].decode("utf-8", "replace") for a in mail.attachments
              if a.content_type.startswith("text/") and a.content_type != "text/rfc822-headers"]
    if not status_part:
        # No status part (a report whose MIME structure is broken, or a bounce in plain
        # words): its fields may still be in the body, one per line.
        m = _DSN_STATUS.search(texts[0])
        bounce.status = m.group(1) if m else None
        for rcpt in _DSN_RECIPIENT.findall(texts[0]):
            if rcpt.lower() not in bounce.recipients:
                bounce.recipients.append(rcpt.lower()[:254])
    if not bounce.message_ids:
        for text in texts:
            for mid in _BODY_MSGID.findall(text):
                if mid not in bounce.message_ids:
                    bounce.message_ids.append(mid)
    if bounce.status is None and report == "heuristic":
        for text in texts:
            m = _STATUS.search(text)
            if m:
                bounce.status = m.group(1)
                break
    return bounce


def _head(data: bytes) -> bytes:
    """The header block of a returned mail (its body may be megabytes)."""
    end = min((i for i in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if i >= 0),
              default=len(data))
    return data[: min(end, MAX_PART)]


def _delivery_status(data: bytes, bounce: Bounce) -> None:
    """The per-message and per-recipient field blocks, separated by blank lines."""
    text = _NEWLINES.sub("\n", data.decode("utf-8", "replace"))
    for chunk in _BLANK.split(text):
        if not chunk.strip():
            continue
        block = _FIELDS.parsestr(chunk.strip() + "\n", headersonly=True)
        _block(block, bounce)


def _block(block: Message, bounce: Bounce) -> None:
    status = (block.get("Status") or "").strip()
    m = _STATUS.search(status)
    action = (block.get("Action") or "").strip().lower() or None
    recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
    if m and (bounce.status is None or (bounce.status[0] != "5" and m.group(1)[0] == "5")):
        bounce.status, bounce.action = m.group(1), action
    if recipient:
        addr = str(recipient).split(";", 1)[-1].strip().strip("<>").lower()
        if addr and addr not in bounce.recipients:
            bounce.recipients.append(addr[:254])


def _returned_ids(headers: Message, bounce: Bounce) -> None:
    for value in headers.get_all("Message-ID") or []:
        mid = str(value).strip().strip("<>").strip()
        if mid and " " not in mid and mid not in bounce.message_ids:
            bounce.message_ids.append(mid[:250])
