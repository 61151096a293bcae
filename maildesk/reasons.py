"""Reasons told to a person (why an agent's mail was refused), in that person's language.

A `Reason` is the English text itself (a `str`: history, logs and `show --json` keep it
as before) that also remembers its msgid and values, so the refusal notice can say it
in the agent's language from the web pages' gettext catalogs. Placeholders are
`%(name)s`, which Babel's checks compare between the msgid and each translation.
It lives outside `maildesk.i18n` so that `deliver` (tokens, the agent checks) imports nothing
of it; the catalogs load only when a reason is translated.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["N_", "Reason", "localized"]


def N_(msgid: str) -> str:  # noqa: N802 - gettext's marker name, what Babel extracts
    """Marks a msgid for extraction; translation happens later, in `Reason.text`."""
    return msgid


class Reason(str):
    """English text with its msgid and values kept for translation."""

    msgid: str
    values: dict[str, object]

    def __new__(cls, msgid: str, **values: object) -> Reason:
        self = super().__new__(cls, msgid % values if values else msgid)
        self.msgid = msgid
        self.values = values
        return self

    def text(self, language: str) -> str:
        """The reason in `language` (English where the catalog has no entry)."""
        from maildesk.i18n import translations

        said = translations(language).gettext(self.msgid)
        if not self.values:
            return said
        values = {k: v.text(language) if isinstance(v, Reason) else v
                  for k, v in self.values.items()}
        try:
            return said % values
        except (KeyError, TypeError, ValueError):  # a broken translation: the English
            return str(self)


def localized(reasons: Iterable[str], language: str) -> str:
    """Reasons joined for one line; plain strings stay as they are."""
    return "; ".join(r.text(language) if isinstance(r, Reason) else r for r in reasons)
