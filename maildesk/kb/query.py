"""What a customer asks: the subject and the new text of the mail, without the quoted
history, the signature, the greeting and the sign-off.

The quoted history and the signature go with the project's quote stripper
(maildesk.agents.quotes, measured on a corpus of real clients' replies); the greeting and
sign-off lines here are short lines that open with the words mail opens and closes with.
Only the top of a long body is read (READ_CHARS): a question is at the top.
"""

from __future__ import annotations

import re

from maildesk.agents.quotes import reply_text

__all__ = ["question"]

_SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|aw|wg|fw|fwd|rv|sv|vs|tr|antw)\s*(?:\[\d+\])?:\s*)+",
                             re.IGNORECASE)
_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|dear|good\s+(?:morning|afternoon|evening)|greetings|hola|buen[oa]s"
    r"|estimad[oa]s?|querid[oa]s?|hallo|guten\s+(?:tag|morgen|abend)|liebe[rs]?|sehr\s+geehrte"
    r"|servus|moin|grüß\s+gott)\b[^\n]{0,60}$", re.IGNORECASE)
_CLOSING = re.compile(
    r"^\s*(?:thanks?|thank\s+you|thx|many\s+thanks|regards|best|kind\s+regards|cheers"
    r"|sincerely|gracias|muchas\s+gracias|saludos|un\s+saludo|atentamente|cordialmente"
    r"|danke|vielen\s+dank|(?:mit\s+)?(?:freundlichen|besten|liebe[n]?|viele)\s+grü(?:ß|ss)e"
    r"|grüße|gruß|mfg|lg|vg)\b[^\n]{0,60}$", re.IGNORECASE)
MAX_CHARS = 4000  # what a question is; the rest of a long mail only adds noise
# The top of the body the quote stripper reads (whole lines): a question is at the top, and
# reading a long mail's quoted history or pasted log to the end costs ~0.25 ms per KB.
READ_CHARS = 16 * 1024


def _short(line: str) -> bool:
    """A greeting or a sign-off is a few words; a longer line is the question itself."""
    return len(line.split()) <= 6


def _top(body: str) -> str:
    """The body's first READ_CHARS characters, cut after a line break (all of a body that
    is shorter, or has no line break in them)."""
    if len(body) <= READ_CHARS:
        return body
    cut = body.rfind("\n", 0, READ_CHARS)
    return body[: cut + 1] if cut > 0 else body


def question(subject: str | None, body: str | None) -> str:
    """The words a knowledge base search should read, subject first: the new text of the
    top of the body (READ_CHARS). A body longer than that is read as if it ended there: a
    quote cut there is still a quote, text below it (a question under 16 KB of quoted
    history) is not read."""
    subject = _SUBJECT_PREFIX.sub("", subject or "").strip()
    lines = [ln.strip() for ln in reply_text(_top(body or "")).splitlines()]
    lines = [ln for ln in lines if ln]
    if lines and _short(lines[0]) and _GREETING.match(lines[0]):
        lines = lines[1:]
    for i in range(max(0, len(lines) - 4), len(lines)):
        if _short(lines[i]) and _CLOSING.match(lines[i]):
            lines = lines[:i]
            break
    return "\n".join([subject, *lines])[:MAX_CHARS]
