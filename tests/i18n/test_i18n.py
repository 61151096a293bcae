"""maildesk.i18n: language negotiation, the catalogs loaded from their .po files, dates in
the person's zone, and the catalogs' completeness for every message the web pages use."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from maildesk import i18n
from maildesk.i18n import catalogs


@pytest.mark.parametrize(
    ("choice", "header", "default", "expected"),
    [
        ("de", "es", "en", "de"),  # the person's choice wins
        ("es-MX", None, "en", "es"),  # a regional choice counts as its language
        ("fr", "fr, de;q=0.5", "en", "de"),  # an unknown choice falls through
        (None, "fr-CH, fr;q=0.9, es;q=0.8, de;q=0.85", "en", "de"),  # best q first
        (None, "es;q=0.5, de;q=0.5", "en", "es"),  # equal q: header order
        (None, "de;q=0, es;q=0.1", "en", "es"),  # q=0 means "not this"
        (None, "de;q=bogus, es", "en", "es"),  # a broken q is refused, not a crash
        (None, "*", "es", "es"),  # anything: the instance default
        (None, "ja, zh", "de", "de"),  # nothing we have: the instance default
        (None, "", "pt-BR", "en"),  # a default we have no catalog for: English
        (None, None, "en", "en"),
        ("", "DE-de", "en", "de"),  # tags are case-insensitive
    ],
)
def test_negotiate(choice: str | None, header: str | None, default: str, expected: str) -> None:
    assert i18n.negotiate(choice, header, default) == expected


def test_negotiate_survives_a_huge_header() -> None:
    assert i18n.negotiate(None, "x-foo;q=0.1," * 100_000 + "de") in i18n.LANGUAGES


def test_english_is_the_msgids() -> None:
    assert i18n.translations("en").gettext("Dashboard") == "Dashboard"
    assert i18n.translations("xx").gettext("Dashboard") == "Dashboard"


def test_each_catalog_entry_is_what_gettext_answers() -> None:
    """The .po compiled in memory answers every entry, plural forms included."""
    for lang in catalogs.translated_languages():
        catalog = catalogs.load(lang)
        entries = [m for m in catalog if m.id]
        assert entries, f"{lang}: empty catalog"
        gt = i18n.translations(lang)
        for message in entries:
            if isinstance(message.id, tuple):
                singular, plural = message.id
                assert gt.ngettext(singular, plural, 1) == message.string[0]
            else:
                assert gt.gettext(message.id) == message.string, message.id


def test_spanish_has_three_plural_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CLDR gives Spanish a form for multiples of a million; a catalog loaded from a .po
    picks it (what a two-form catalog would get wrong)."""
    po = tmp_path / "es" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text(textwrap.dedent('''\
        msgid ""
        msgstr ""
        "Language: es\\n"
        "Content-Type: text/plain; charset=utf-8\\n"
        "Plural-Forms: nplurals=3; plural=(n == 1 ? 0 : n != 0 && n % 1000000 == 0 ? 1 : 2);\\n"

        msgid "%(n)s ticket"
        msgid_plural "%(n)s tickets"
        msgstr[0] "%(n)s ticket"
        msgstr[1] "%(n)s de tickets"
        msgstr[2] "%(n)s tickets"
        '''), encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n._load.cache_clear()
    try:
        gt = i18n.translations("es")
        forms = [gt.ngettext("%(n)s ticket", "%(n)s tickets", n) for n in (1, 3, 2_000_000)]
        assert forms == ["%(n)s ticket", "%(n)s tickets", "%(n)s de tickets"]
    finally:
        i18n._load.cache_clear()


def test_format_datetime_in_the_persons_zone_and_language() -> None:
    moment = datetime(2026, 3, 29, 1, 30)  # naive: UTC, as stored; Madrid is on CEST by then
    assert i18n.format_datetime(moment, "en", "Europe/Madrid") == "Mar 29, 2026, 3:30:00\u202fAM"
    assert i18n.format_datetime(moment, "de", "Europe/Berlin") == "29.03.2026, 03:30:00"
    assert i18n.format_datetime(moment, "es", "America/New_York") == "28 mar 2026, 21:30:00"
    aware = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert i18n.format_date(aware, "es", "Europe/Madrid") == "1 dic 2026"
    # an unknown zone or language cannot break a page: UTC, English
    assert i18n.format_datetime(aware, "xx", "Mars/Olympus") == "Nov 30, 2026, 11:00:00\u202fPM"


def test_the_catalogs_translate_every_message_the_web_pages_use() -> None:
    """Every msgid in the web templates and code has a real es and de translation (all
    plural forms, not fuzzy, same placeholders): `python -m maildesk.i18n.catalogs` lists
    what is missing."""
    template = catalogs.extract()
    for lang in catalogs.translated_languages():
        assert catalogs.problems(template, catalogs.load(lang)) == [], lang


def test_the_checker_finds_what_a_translator_left(tmp_path: Path) -> None:
    """Extraction reads templates and Python through babel.cfg; the checker names a missing
    message, an empty plural form and a placeholder that differs."""
    (tmp_path / "babel.cfg").write_text(
        (catalogs.ROOT / "babel.cfg").read_text(encoding="utf-8"), encoding="utf-8")
    web = tmp_path / "maildesk" / "templates" / "web"
    web.mkdir(parents=True)
    (web / "page.html").write_text(
        "<h1>{{ _('Queues') }}</h1>\n"
        "{% trans count=n %}{{ count }} ticket{% pluralize %}{{ count }} tickets{% endtrans %}\n"
        "<p>{{ _('Hello %(name)s', name=who) }}</p>\n", encoding="utf-8")
    code = tmp_path / "maildesk" / "http" / "web"
    code.mkdir(parents=True)
    (code / "labels.py").write_text('LABEL = N_("Overview")\n', encoding="utf-8")
    template = catalogs.extract(tmp_path)
    assert {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id} == {
        "Queues", "%(count)s ticket", "Hello %(name)s", "Overview"}

    po = tmp_path / "es.po"
    po.write_text(textwrap.dedent('''\
        msgid ""
        msgstr ""
        "Language: es\\n"
        "Plural-Forms: nplurals=3; plural=(n == 1 ? 0 : n != 0 && n % 1000000 == 0 ? 1 : 2);\\n"

        msgid "Queues"
        msgstr "Colas"

        msgid "%(count)s ticket"
        msgid_plural "%(count)s tickets"
        msgstr[0] "%(count)s ticket"
        msgstr[1] ""
        msgstr[2] "%(count)s tickets"

        msgid "Hello %(name)s"
        msgstr "Hola %(nombre)s"
        '''), encoding="utf-8")
    from babel.messages.pofile import read_po

    with open(po, "rb") as fh:
        found = catalogs.problems(template, read_po(fh, locale="es"))
    assert "missing: 'Overview'" in found
    assert "untranslated: '%(count)s ticket'" in found
    assert any("placeholder" in p and "Hello" in p for p in found), found
    assert not any("Queues" in p for p in found)


def test_the_catalogs_are_package_data() -> None:
    """A non-editable install carries every .po (no build step compiles them: they are
    compiled in memory when first used)."""
    import tomllib

    package = catalogs.ROOT / "maildesk"
    patterns = tomllib.loads((catalogs.ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "tool"]["setuptools"]["package-data"]["maildesk"]
    shipped = {path for pattern in patterns for path in package.glob(pattern)}
    files = {p for p in (package / "i18n" / "locale").rglob("*") if p.is_file()}
    assert files and files <= shipped, sorted(map(str, files - shipped))


def test_every_state_and_clock_is_declared_for_translation() -> None:
    from maildesk.config.vocabulary import STATES
    from maildesk.i18n.vocabulary import CLOCK_NAMES, STATE_NAMES
    from maildesk.timers.policy import SLA_CLOCKS

    assert tuple(STATE_NAMES) == STATES
    assert tuple(CLOCK_NAMES) == SLA_CLOCKS
    for lang in catalogs.translated_languages():
        gt = i18n.translations(lang)
        for name in (*STATE_NAMES.values(), *CLOCK_NAMES.values()):
            assert gt.gettext(name) != name, (lang, name)
