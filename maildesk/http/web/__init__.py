"""The web pages for agents and customers (SPEC 15), in the HTTP application of `serve`:
server-rendered HTML (Jinja2, gettext), htmx for partial updates, no script or style
inline (a strict CSP), sessions in the database.

`install(app)` is the one call `maildesk.http.app` makes: the routers, the HTML error
pages, the security headers.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from maildesk.http.web import customer, dashboard, forms, home, login, static, tickets
from maildesk.http.web.security import SecureHeaders
from maildesk.http.web.viewer import NeedLogin, WebError
from maildesk.i18n import N_

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["install"]

API_PATHS = ("/api/", "/healthz", "/metrics")
_STATUS_TEXT = {404: N_("There is no such page."),
                405: N_("This page cannot be used that way."),
                400: N_("This request cannot be answered.")}


def install(app: FastAPI) -> None:
    app.include_router(static.router)
    app.include_router(login.router)
    app.include_router(home.router)
    app.include_router(dashboard.router)
    app.include_router(customer.router)  # before tickets: /tickets/new is not a number
    app.include_router(tickets.router)
    app.include_router(forms.router)
    app.add_exception_handler(WebError, _web_error)  # type: ignore[arg-type]
    api_handler = app.exception_handlers.get(HTTPException)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        """Starlette's own 404/405 are pages for a browser (it asks for text/html) outside
        the API; everyone else keeps the API's JSON envelope."""
        browser = "text/html" in request.headers.get("accept", "")
        if (not browser or request.url.path.startswith(API_PATHS)) and api_handler:
            answer = api_handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        response = await _web_error(request, WebError(exc.status_code, _STATUS_TEXT.get(
            exc.status_code, N_("This request cannot be answered."))))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]
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
    return page(seen, "message.html", status=exc.status, page_title=N_("Sorry"),
                message=exc.message)
