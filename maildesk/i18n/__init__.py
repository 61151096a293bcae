"""The web pages' languages (SPEC 15): gettext catalogs, choosing a language, local dates.

English is the language of the msgids, so its translations are the identity; Spanish and
German come from `locale/{es,de}/LC_MESSAGES/messages.po`, compiled in memory when first
asked for (no build step, no committed binary `.mo` that could drift from its `.po`).
Imported only by the web code: `deliver` never pays for Babel.
"""

from __future__ import annotations

import gettext
import io
from datetime import UTC, datetime, timezone
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LANGUAGES: tuple[str, ...] = ("en", "es", "de")
LANGUAGE_NAMES = {"en": "English", "es": "Español", "de": "Deutsch"}
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


def supported(lang: str | None) -> str | None:
    """`lang` reduced to one of LANGUAGES (`es-MX` -> `es`), or None."""
    if not lang:
        return None
    base = lang.strip().replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def negotiate(choice: str | None, accept_language: str | None, default: str = "en") -> str:
    """The page language: the person's own choice, else the best of Accept-Language
    (q-values honoured, q=0 refused), else the instance default, else English."""
    chosen = supported(choice)
    if chosen:
        return chosen
    for lang in _accepted(accept_language or ""):
        if lang == "*":
            return supported(default) or "en"
        found = supported(lang)
        if found:
            return found
    return supported(default) or "en"


def _accepted(header: str) -> list[str]:
    """Accept-Language ranges, best first; equal q-values keep the header's order."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header[:1000].split(",")):
        fields = part.strip().split(";")
        tag = fields[0].strip()
        if not tag:
            continue
        quality = 1.0
        for param in fields[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(ranked)]


def translations(lang: str) -> gettext.NullTranslations:
    """The catalog of `lang` (English and unknown languages: the msgids themselves)."""
    return _load(supported(lang) or "en")


@cache
def _load(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po", "rb") as po:
        catalog = read_po(po, locale=lang, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def zone(name: str | None) -> ZoneInfo | timezone:
    """A time zone by IANA name; UTC for None or an unknown name (a form cannot break a page)."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def format_datetime(
    dt: datetime, lang: str, tz: str | None = None, format: str = "medium"
) -> str:
    """`dt` in the person's time zone and language ("30 nov 2026, 23:25:14" in Spanish).
    A naive `dt` is taken as UTC, as the database stores it."""
    from babel.dates import format_datetime as babel_format

    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return babel_format(dt, format=format, tzinfo=zone(tz), locale=supported(lang) or "en")


def format_date(dt: datetime, lang: str, tz: str | None = None, format: str = "medium") -> str:
    """The date alone, in the person's time zone."""
    from babel.dates import format_date as babel_format

    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return babel_format(dt.astimezone(zone(tz)).date(), format=format,
                        locale=supported(lang) or "en")
def N_(message: str) -> str:
    """Marks a message for extraction where it is declared (a label in a list) and
    translated later, when shown."""
    return message
