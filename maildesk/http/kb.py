"""`GET /kb/<name>`: a knowledge base entry as a public page, the link auto-responses carry.

Public like the answer it holds (no login: the customer got the link by mail). The Markdown
is rendered with markdown-it-py (CommonMark, raw HTML off) and then sanitised with nh3
(Ammonia's allow-list) anyway, so an entry's author cannot put script on the page; the title
is escaped. The page sends a Content-Security-Policy that allows no script at all.
"""

from __future__ import annotations

import html
from functools import lru_cache

from fastapi import APIRouter
from starlette.responses import HTMLResponse

from maildesk.http.context import Ctx

__all__ = ["render_entry", "router"]

router = APIRouter()

_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_STYLE = ("body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;"
          "padding:0 1rem;line-height:1.5;color:#222}h1{font-size:1.5rem}"
          "footer{margin-top:3rem;color:#666;font-size:.9rem}")


@lru_cache(maxsize=1)
def _markdown() -> object:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_entry(site: str, title: str, language: str, markdown: str) -> str:
    """The whole page: escaped title, rendered and sanitised body."""
    import nh3

    body = nh3.clean(_markdown().render(markdown),  # type: ignore[attr-defined]
                     link_rel="noopener noreferrer nofollow",
                     url_schemes={"http", "https", "mailto"})
    return (f'<!doctype html>\n<html lang="{html.escape(language)}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)} · {html.escape(site)}</title>"
            f"<style>{_STYLE}</style></head>\n<body><main><h1>{html.escape(title)}</h1>\n"
            f"{body}</main><footer>{html.escape(site)}</footer></body></html>\n")


@router.get("/kb/{name}", include_in_schema=False)
async def entry_page(name: str, ctx: Ctx) -> HTMLResponse:
    from maildesk.kb.library import library

    config = ctx.rt.config
    lib = await ctx.run(library, config)  # a first load reads files: not on the event loop
    entry = lib.entry(name) if config.kb.path is not None else None
    headers = {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"}
    if entry is None:
        missing = f"<!doctype html>\n<title>Not found</title><p>No answer named " \
                  f"{html.escape(name[:100])!s} here.</p>\n"
        return HTMLResponse(missing, status_code=404, headers=headers)
    page = render_entry(config.web.title, entry.title, entry.language, entry.body)
    return HTMLResponse(page, headers={**headers, "Cache-Control": "public, max-age=300"})
