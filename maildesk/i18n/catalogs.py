"""Keeping the catalogs in step with the code: extract every msgid of the web pages
(Python and Jinja2 templates, mapped by the checkout's `babel.cfg`) and merge it into the
Spanish and German `.po` files, new entries untranslated for a person to fill in.

    python -m maildesk.i18n.catalogs          # update es and de, list what needs a translator
    python -m maildesk.i18n.catalogs --check  # exit 1 if anything is missing (as the test does)

A developer's tool, run from a checkout: the installed package needs only the `.po` files.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from maildesk.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "babel.cfg"


def extract(root: Path = ROOT) -> Catalog:
    """Every translatable message the web pages use, as a template catalog."""
    with open(root / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    template = Catalog(project="maildesk", domain=DOMAIN)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), method_map, options_map, comment_tags=("Translators:",)
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments,
                     context=context)
    return template


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def load(lang: str) -> Catalog:
    with open(po_path(lang), "rb") as po:
        return read_po(po, locale=lang, domain=DOMAIN)


def translated_languages() -> list[str]:
    return [lang for lang in LANGUAGES if lang != "en"]


def problems(template: Catalog, catalog: Catalog) -> list[str]:
    """Why `catalog` would show a person English or a broken text: missing, empty (every
    plural form counts: Spanish has 3), fuzzy, or a placeholder that differs."""
    found: list[str] = []
    for wanted in template:
        if not wanted.id:
            continue
        have = catalog.get(wanted.id, wanted.context)
        name = wanted.id if isinstance(wanted.id, str) else wanted.id[0]
        if have is None:
            found.append(f"missing: {name!r}")
            continue
        strings = have.string if isinstance(have.string, tuple | list) else (have.string,)
        if isinstance(wanted.id, tuple | list) and len(strings) != catalog.num_plurals:
            found.append(f"{len(strings)} plural forms, want {catalog.num_plurals}: {name!r}")
        if not all(strings):
            found.append(f"untranslated: {name!r}")
            continue
        if have.fuzzy:
            found.append(f"fuzzy: {name!r}")
        for error in have.check(catalog):
            found.append(f"{error}: {name!r}")
    return found


def update(template: Catalog) -> dict[str, Catalog]:
    """Merge `template` into each translated catalog (obsolete entries dropped)."""
    merged = {}
    for lang in translated_languages():
        catalog = load(lang)
        before = _entries(catalog)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        merged[lang] = catalog
        if _entries(catalog) == before:
            continue  # nothing changed: leave the file (and its dates) alone
        _header(catalog, lang)
        with open(po_path(lang), "wb") as po:
            write_po(po, catalog, width=100, sort_output=True)
    return merged


def _entries(catalog: Catalog) -> list[tuple[object, object, object]]:
    return sorted(
        ((m.id, m.context, m.string) for m in catalog if m.id), key=repr
    )


def _header(catalog: Catalog, lang: str) -> None:
    """Header fields with the project's values instead of Babel's placeholders."""
    catalog.project = "maildesk"
    catalog.version = ""
    catalog.msgid_bugs_address = "the maildesk issue tracker"
    catalog.last_translator = "maildesk developers"
    catalog.language_team = f"maildesk {lang}"
    catalog.header_comment = (
        f"# {lang} translations of maildesk's web pages (MIT, like the project).\n"
        "# Update with `python -m maildesk.i18n.catalogs`; every entry must be translated."
    )
    catalog.revision_date = datetime.now(UTC)
    catalog.fuzzy = False


def _untranslated(message: Message) -> bool:
    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
    return not all(strings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report only, change nothing")
    args = parser.parse_args(argv)
    template = extract()
    catalogs = (
        {lang: load(lang) for lang in translated_languages()} if args.check else update(template)
    )
    bad = 0
    for lang, catalog in catalogs.items():
        for problem in problems(template, catalog):
            print(f"{lang}: {problem}")
            bad += 1
    print(f"{len(template)} messages, {bad} problems", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
