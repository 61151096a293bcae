"""Pages from Jinja2 templates (`maildesk/templates/web/`): autoescaped, with gettext
(`_()`, `{% trans %}`) in the viewer's language, and what every page shows (the title and
logo of `web:`, the person, the CSRF token, the navigation).

One environment per language: gettext is installed into an environment, and requests in
different languages run at once on the thread pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from maildesk.http.web.history_words import line as history_line
from maildesk.http.web.lang import (
    CLOCK_LABELS,
    LANG_NAMES,
    LANGUAGES,
    SENDER_LABELS,
    SORT_LABELS,
    STATE_LABELS,
    format_datetime,
    translations,
)
from maildesk.http.web.viewer import Seen
from maildesk.i18n import N_

__all__ = ["NAV", "NavItem", "environment", "page"]

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "web"


@dataclass(frozen=True)
class NavItem:
    """A link in the page header: `kind` is who sees it (agent, supervisor (an agent with
    `supervisor: true`), customer, or any); `label` is marked with N_ and translated when
    shown."""

    path: str
    label: str  # English; translated when shown
    kind: str = "agent"


# The header's links; other parts of the web pages (the supervisors' dashboard) append.
NAV: list[NavItem] = [
    NavItem("/", N_("Overview"), "agent"),
    NavItem("/tickets", N_("Tickets"), "agent"),
    NavItem("/", N_("My tickets"), "customer"),
    NavItem("/tickets/new", N_("New ticket"), "customer"),
]


@lru_cache(maxsize=len(LANGUAGES) + 1)
def environment(lang: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    return env


def page(seen: Seen, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render `template` for this viewer, with the cookies the request decided on."""
    config = seen.ctx.rt.config
    base = {
        "site_title": config.web.title,
        "has_logo": config.web.logo is not None,
        "lang": seen.lang,
        "languages": [(code, LANG_NAMES[code]) for code in LANGUAGES],
        "person": seen.session,
        "agent": seen.agent,
        "csrf": seen.csrf,
        "nav": [n for n in NAV if n.kind in _kinds(seen)],
        "state_label": STATE_LABELS,
        "sort_label": SORT_LABELS,
        "clock_label": CLOCK_LABELS,
        "sender_label": SENDER_LABELS,
        "history_line": history_line,
        "path": seen.request.url.path,
        "when": lambda value: format_datetime(value, seen.lang, _zone(seen)),
        "page_title": "",  # a msgid (marked N_), translated when shown
        "title_text": "",  # or text from data (a ticket's subject): never translated
        # Values (a state, a marked label, an error) translated as plain text, escaped like
        # any value: `_()` would mark its result safe, and must only see literal msgids.
        "tr": translations(seen.lang).gettext,
        "lang_url": lambda code: _query_url(seen, lang=code),
        "page_query": lambda n: urlencode({**_params(seen), "page": str(n)}),
    }
    html = environment(seen.lang).get_template(template).render({**base, **context})
    return seen.apply(HTMLResponse(html, status_code=status))  # type: ignore[return-value]


def _kinds(seen: Seen) -> set[str]:
    kinds = {"any", seen.kind or ""}
    if getattr(seen.agent, "supervisor", False):
        kinds.add("supervisor")
    return kinds


def _params(seen: Seen) -> dict[str, str]:
    return {k: v for k, v in seen.request.query_params.items() if k != "lang"}


def _query_url(seen: Seen, **changes: str) -> str:
    return seen.request.url.path + "?" + urlencode({**_params(seen), **changes})


def _zone(seen: Seen) -> str | None:
    """The agent's zone if the config gives one, else the instance's."""
    zone = getattr(seen.agent, "timezone", None) or seen.ctx.rt.config.instance.timezone
    return str(zone) if zone else None
