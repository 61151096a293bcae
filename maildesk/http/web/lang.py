"""Languages of the web pages: which one a person gets, the catalog, dates.

The catalogs, negotiation and date formatting are `maildesk.i18n`'s (issue 16, the webui
part); until that module is on main this falls back to English text, a plain
Accept-Language match and ISO dates, so the pages work either way and switching is this
file alone.
"""

from __future__ import annotations

import gettext
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["LANGUAGES", "format_datetime", "negotiate", "translations"]

LANGUAGES = ("en", "es", "de")
LANG_NAMES = {"en": "English", "es": "Español", "de": "Deutsch"}


def _i18n() -> Any:
    import importlib

    try:  # by name: mypy need not know the module before it lands
        return importlib.import_module("maildesk.i18n")
    except ImportError:
        return None


def translations(lang: str) -> gettext.NullTranslations:
    module = _i18n()
    if module is not None and hasattr(module, "translations"):
        found: gettext.NullTranslations = module.translations(lang)
        return found
    return gettext.NullTranslations()


def negotiate(choice: str | None, accept_language: str | None) -> str:
    """The person's choice if it is one of ours, else the best Accept-Language match."""
    module = _i18n()
    if module is not None and hasattr(module, "negotiate"):
        found: str = module.negotiate(choice, accept_language)
        return found
    if choice in LANGUAGES:
        return choice
    weighted: list[tuple[float, int, str]] = []
    for n, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and q > 0:
            weighted.append((-q, n, primary))
    return sorted(weighted)[0][2] if weighted else "en"


def format_datetime(value: datetime | None, lang: str, tz: str | None = None) -> str:
    """A stored (naive UTC) time in the person's zone and language."""
    if value is None:
        return ""
    module = _i18n()
    if module is not None and hasattr(module, "format_datetime"):
        text: str = module.format_datetime(value, lang, tz)
        return text
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    try:
        zone = ZoneInfo(tz) if tz else UTC
    except (KeyError, ValueError):
        zone = UTC
    return aware.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
