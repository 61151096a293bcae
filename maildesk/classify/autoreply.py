"""Is this mail an auto-reply? A vacation or other robot answer: Auto-Submitted other than
`no`, X-Autoreply and kin, an MDN, or an auto-reply subject backed by a header signal (a
null return path, Precedence, X-Auto-Response-Suppress ...). Subjects that can only be a
robot's ("Auto reply: ...", Lotus Notes "AUTO: ... out of the office") count alone: the
corpus has vacation replies that carry no header signal at all."""

from __future__ import annotations

import re

from maildesk.classify.facts import Facts
from maildesk.classify.loop import BULK
from maildesk.classify.rule import rule
from maildesk.marks import REPLY_PREFIX

__all__ = ["autoreply", "is_autoreply"]

# A subject that opens like this is a robot's on its own.
_STRONG = re.compile(
    r"^(?:auto(?:matic|matische)?[ -]?(?:reply|response|antwort|respuesta)|"
    r"out of (?:the )?office|abwesenheitsnotiz|automatische antwort|"
    r"respuesta autom[aá]tica|r[ée]ponse automatique|risposta automatica|"
    r"automatyczna odpowied\S*|autorespons\w*)\s*(?::|$|\])"
    r"|^auto:.*\bout of (?:the )?office\b",
    re.IGNORECASE,
)
# Anywhere in the subject, believed only with a header signal.
_WEAK = re.compile(
    r"auto(?:matic|matische)?[ -]?(?:reply|response|antwort)|out of (?:the )?office|"
    r"abwesenheit|respuesta autom[aá]tica|r[ée]ponse automatique|automatyczna|"
    r"vacation|urlaub|vacaciones|on leave|away from (?:the|my) office|"
    r"thank you for your (?:e-?mail|message)",
    re.IGNORECASE,
)


@rule("autoreply")
def autoreply(f: Facts) -> list[str]:
    """A robot's answer: Auto-Submitted, a robot header, a read receipt, a robot's subject,
    or an auto-reply word in the subject backed by a header signal."""
    if f.auto_submitted != "no":
        return [f"Auto-Submitted: {f.auto_submitted}"]
    if f.robot_header is not None:
        return [f.robot_header or "a robot header"]
    if f.report_type == "disposition-notification":
        return ["a read receipt (MDN)"]
    bare_subject = REPLY_PREFIX.sub("", f.subject).strip()
    if _STRONG.search(bare_subject):
        return [f"a robot's subject: {bare_subject[:80]}"]
    signal = _header_signal(f)
    if signal and _WEAK.search(f.subject):
        return [f"an auto-reply subject with {signal}: {f.subject[:80]}"]
    return []


def _header_signal(f: Facts) -> str | None:
    """What in the headers makes an auto-reply word in the subject believable."""
    if f.null_return_path:
        return "a null Return-Path"
    if not f.sender:
        return "a null sender"
    if f.precedence in BULK:
        return f"Precedence: {f.precedence}"
    if f.suppress - {""}:
        return "X-Auto-Response-Suppress"
    if "x-ms-exchange-inbox-rules-loop" in f.first:
        return "X-MS-Exchange-Inbox-Rules-Loop"
    return None


def is_autoreply(f: Facts) -> bool:
    return bool(autoreply.check(f))
