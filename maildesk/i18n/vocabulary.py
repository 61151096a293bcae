"""Words the web pages show that come from data, not from a template: ticket states and
the SLA clocks. A template translates them with `_(state)`, which extraction cannot see,
so they are declared here for the catalogs (a test checks the lists stay complete)."""

from __future__ import annotations

from maildesk.i18n import N_

STATE_NAMES = {
    "new": N_("new"),
    "open": N_("open"),
    "pending reminder": N_("pending reminder"),
    "pending auto-close": N_("pending auto-close"),
    "closed successful": N_("closed successful"),
    "closed unsuccessful": N_("closed unsuccessful"),
    "merged": N_("merged"),
}
CLOCK_NAMES = {
    "first_response": N_("first response"),
    "update": N_("update"),
    "solution": N_("solution"),
}
