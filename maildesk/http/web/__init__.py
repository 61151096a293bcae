"""The web pages for agents and customers (SPEC 15), in the HTTP application of `serve`:
server-rendered HTML (Jinja2, gettext), htmx for partial updates, no script or style
inline (a strict CSP), sessions in the database.

`install(app)` is the one call `maildesk.http.app` makes: the routers, the HTML error
pages, the security headers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from maildesk.http.web import dashboard, home, login, static
from maildesk.http.web.security import SecureHeaders
from maildesk.http.web.viewer import NeedLogin, WebError

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["install"]


def install(app: FastAPI) -> None:
    app.include_router(static.router)
    app.include_router(login.router)
    app.include_router(home.router)
    app.include_router(dashboard.router)
    app.add_exception_handler(WebError, _web_error)  # type: ignore[arg-type]
    app.add_exception_handler(NeedLogin, _need_login)  # type: ignore[arg-type]
    app.add_middleware(SecureHeaders)


async def _need_login(request: Request, exc: NeedLogin) -> Response:
    from urllib.parse import quote

    return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)


async def _web_error(request: Request, exc: WebError) -> Response:
    """An HTML page (in the viewer's language, when it can be found) with the status."""
    from maildesk.http.web.render import page
    from maildesk.http.web.viewer import _seen

    ctx = request.app.state.ctx
    try:
        seen = await _seen(ctx, request)
    except Exception:  # the database away: the page without the person
        from maildesk.http.web.lang import negotiate
        from maildesk.http.web.viewer import Seen

        seen = Seen(ctx, request, None, negotiate(None, request.headers.get(
            "accept-language")), False)
    return page(seen, "message.html", status=exc.status, page_title="Sorry",
                message=exc.message)
