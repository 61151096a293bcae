"""Names the config accepts and the rest of maildesk speaks: states, priorities, permissions."""

from __future__ import annotations

PERMISSIONS = ("read", "note", "reply", "move", "priority", "lock", "owner", "close", "merge")
AUTORESPONSE_EVENTS = ("new", "followup", "reject", "closed_followup")
AUTORESPONSE_DEFAULTS = {"new": True, "followup": False, "reject": True, "closed_followup": True}
STATES = (
    "new",
    "open",
    "pending reminder",
    "pending auto-close",
    "closed successful",
    "closed unsuccessful",
    "merged",
)
PRIORITY_NAMES = {"very low": 1, "low": 2, "normal": 3, "high": 4, "very high": 5}
NUMBER_FORMATS = ("date", "counter")
ARTICLE_STORES = ("filesystem", "database")
BARE_NEWLINE = ("normalize", "reject")  # as Postfix's smtpd_forbid_bare_newline
CLOSED_FOLLOWUP_POLICIES = ("reopen", "new_ticket", "reject")
MATCH_CONDITIONS = (
    "recipient",
    "to",
    "cc",
    "from",
    "sender_domain",
    "subject",
    "body",
    "header",
    "has_attachment",
    "known_customer",
)
RULE_SET_KEYS = ("queue", "priority", "state", "owner", "tags", "language")
