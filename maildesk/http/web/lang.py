"""Languages of the web pages: the names the pages use, from `maildesk.i18n` (the
catalogs, negotiation and dates of issue 16's i18n part), and the labels of values that
are shown translated (states, sorts, clocks, senders), marked with N_ so extraction finds
them."""

from __future__ import annotations

from datetime import datetime

from maildesk.i18n import LANGUAGE_NAMES, LANGUAGES, N_, negotiate, translations
from maildesk.i18n import format_datetime as _format
from maildesk.i18n.vocabulary import CLOCK_NAMES, STATE_NAMES

__all__ = ["CLOCK_LABELS", "LANGUAGES", "LANG_NAMES", "SENDER_LABELS", "SORT_LABELS",
           "STATE_LABELS", "format_datetime", "negotiate", "translations"]

LANG_NAMES = LANGUAGE_NAMES
STATE_LABELS = STATE_NAMES
CLOCK_LABELS = CLOCK_NAMES
SORT_LABELS = {
    "updated": N_("recently updated"),
    "oldest": N_("least recently updated"),
    "created": N_("recently created"),
    "priority": N_("highest priority"),
    "number": N_("ticket number"),
}
SENDER_LABELS = {"customer": N_("customer"), "agent": N_("agent"), "system": N_("system")}


def format_datetime(value: datetime | None, lang: str, tz: str | None = None) -> str:
    """A stored (naive UTC) time in the person's zone and language; '' for none."""
    return _format(value, lang, tz, format="short") if value is not None else ""
