"""Languages of the web pages: the names the pages use, from `maildesk.i18n` (the
catalogs, negotiation and dates of issue 16's i18n part), and the labels of values that
are shown translated (states, sorts, clocks, senders), marked with N_ so extraction finds
them."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo
from functools import lru_cache

from maildesk.i18n import LANGUAGE_NAMES, LANGUAGES, N_, negotiate, supported, translations, zone
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
    """A stored (naive UTC) time in the person's zone and language ("11/30/26, 10:05 AM");
    '' for none. What Babel's `format_datetime(format="short")` gives, put together as it
    does (the locale's short date-time pattern around the short date and the short time),
    with the date and the time (to the minute: the short format shows no seconds) each
    formatted once: a ticket page shows a couple of hundred times, and Babel took a third
    of a millisecond for each (bench/web.py)."""
    if value is None:
        return ""
    local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(_zone(tz))
    return _pattern(lang).replace("{0}", _time(local.hour, local.minute, lang)).replace(
        "{1}", _date(local.date(), lang))


@lru_cache(maxsize=8)
def _pattern(lang: str) -> str:
    from babel.dates import get_datetime_format

    return str(get_datetime_format("short", locale=_locale(lang))).replace("'", "")


@lru_cache(maxsize=4096)
def _date(day: date, lang: str) -> str:
    from babel.dates import format_date

    return format_date(day, format="short", locale=_locale(lang))


@lru_cache(maxsize=4096)
def _time(hour: int, minute: int, lang: str) -> str:
    from babel.dates import format_time

    return format_time(time(hour, minute), format="short", locale=_locale(lang))


@lru_cache(maxsize=64)
def _zone(tz: str | None) -> tzinfo:
    return zone(tz)


def _locale(lang: str) -> str:
    return supported(lang) or "en"


def babel_format_datetime(value: datetime, lang: str, tz: str | None = None) -> str:
    """Babel's own, whole: what `format_datetime` must equal (tests compare them)."""
    return _format(value, lang, tz, format="short")
