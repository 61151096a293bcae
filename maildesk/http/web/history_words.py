"""A ticket's history in the reader's language: the events and their detail fields are
stored as English words (`core.tickets.record`), shown through the catalogs; a state, a
sender, a clock or a yes/no among the values too. A word not listed here (an event a
later version adds) is shown as stored rather than not at all."""

from __future__ import annotations

import json
from collections.abc import Callable

from maildesk.i18n import N_
from maildesk.i18n.vocabulary import CLOCK_NAMES, STATE_NAMES

__all__ = ["EVENTS", "FIELDS", "Line", "details", "line"]

EVENTS = {
    "created": N_("created"),
    "created over HTTP": N_("created over HTTP"),
    "article added": N_("article added"),
    "state": N_("state changed"),
    "queue": N_("moved to another queue"),
    "priority": N_("priority changed"),
    "owner": N_("owner changed"),
    "lock": N_("locked"),
    "unlock": N_("unlocked"),
    "merged": N_("merged"),
    "linked": N_("linked"),
    "cc": N_("Cc changed"),
    "tags": N_("tags changed"),
    "note": N_("note"),
    "pending": N_("set pending"),
    "faq": N_("knowledge base entry added"),
    "answer sent": N_("answer sent"),
    "auto-response sent": N_("auto-response sent"),
    "auto-response suppressed": N_("auto-response suppressed"),
    "notification sent": N_("notification sent"),
    "result sent": N_("result sent"),
    "refusal notice": N_("refusal notice sent"),
    "command refused": N_("command refused"),
    "routed": N_("routed"),
    "reminder": N_("reminder"),
    "escalated": N_("escalated to the next level"),
    "escalation warning": N_("SLA warning"),
    "escalation": N_("SLA breached"),
    "auto-response failed": N_("auto-response failed"),
    "notification failed": N_("notification failed"),
    "bounce": N_("bounce"),
    "delivery failed": N_("delivery failed"),
    "duplicate delivery": N_("duplicate delivery"),
    "closed follow-up refused": N_("follow-up to a closed ticket refused"),
    "kb suggestions offered": N_("knowledge base entries offered"),
    "solved by customer": N_("solved by the customer"),
}
FIELDS = {
    "old": N_("before"),
    "new": N_("after"),
    "queue": N_("queue"),
    "state": N_("state"),
    "priority": N_("priority"),
    "owner": N_("owner"),
    "article": N_("article"),
    "kind": N_("kind"),
    "sender_type": N_("sender"),
    "visibility": N_("visibility"),
    "verified": N_("verified"),
    "reason": N_("reason"),
    "reasons": N_("reasons"),
    "rules": N_("rules"),
    "to": N_("to"),
    "into": N_("into"),
    "until": N_("until"),
    "clock": N_("clock"),
    "deadline": N_("deadline"),
    "level": N_("level"),
    "error": N_("error"),
    "cause": N_("cause"),
    "added": N_("added"),
    "removed": N_("removed"),
    "entry": N_("entry"),
    "entries": N_("entries"),
    "language": N_("language"),
    "via": N_("via"),
    "recipients": N_("recipients"),
}
VALUES: dict[object, str] = {
    "customer": N_("customer"), "agent": N_("agent"), "system": N_("system"),
    "public": N_("public"), "internal": N_("internal"),
    "mail": N_("mail"), "autoreply": N_("auto-response"), "web": N_("web"),
    True: N_("yes"), False: N_("no"),
}
VALUES.update(STATE_NAMES)
VALUES.update(CLOCK_NAMES)
HIDDEN = frozenset({"outbox", "message_id", "scores", "envelope_sender", "details"})

Line = tuple[str, list[tuple[str, object]]]


def details(text: str) -> list[tuple[str, object]]:
    """The stored details (JSON), without the empty ones and the machine's own ids."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return []
    if not isinstance(data, dict):
        return [("", data)]
    return [(k, v) for k, v in data.items()
            if v not in (None, "", [], {}) and k not in HIDDEN]


def line(tr: Callable[[str], str], event: str, fields: list[tuple[str, object]]) -> str:
    """"state changed · before: new, after: open", in the reader's language."""
    words = ", ".join((f"{tr(FIELDS[k])}: " if k in FIELDS else f"{k}: " if k else "")
                      + _value(tr, v) for k, v in fields)
    name = tr(EVENTS[event]) if event in EVENTS else event
    return f"{name} · {words}" if words else name


def _value(tr: Callable[[str], str], value: object) -> str:
    if isinstance(value, list):
        return " ".join(_value(tr, v) for v in value)
    if isinstance(value, bool | str) and value in VALUES:
        return tr(VALUES[value])
    return str(value)
