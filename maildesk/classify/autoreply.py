"""Is this mail an auto-reply? A vacation or other robot answer: Auto-Submitted other than
`no`, X-Autoreply and kin, an MDN, or an auto-reply subject backed by a header signal (a
null return path, Precedence, X-Auto-Response-Suppress ...). Subjects that can only be a
robot's ("Auto reply: ...", Lotus Notes "AUTO: ... out of the office") count alone: the
corpus has vacation replies that carry no header signal at all."""

from __future__ import annotations

import re

from maildesk.classify.facts import Facts
from maildesk.classify.loop import BULK
from maildesk.marks import REPLY_PREFIX

__all__ = ["is_autoreply"]

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


def is_autoreply(f: Facts) -> bool:
    robot = f.auto_submitted != "no" or f.robot_header is not None
    header_signal = bool(
        robot or f.null_return_path or not f.sender or f.precedence in BULK
        or f.suppress - {""} or f.mail.header("X-MS-Exchange-Inbox-Rules-Loop") is not None
    )
    bare_subject = REPLY_PREFIX.sub("", f.subject).strip()
    return bool(robot or f.report_type == "disposition-notification"
                or _STRONG.search(bare_subject)
                or (header_signal and _WEAK.search(f.subject)))
