"""Signing in and out (SPEC 15): `/login` (a link by mail, or a customer's password),
`/login/{token}` (a page with a button: opening the link does not use it), `/logout`.

`POST /login` answers the same page whatever the address (known or not, limited or not),
and looks the address up only after the answer is sent, so neither the page nor its
timing tells who has an account. A password (`method=password`, customers only) is
checked before answering; every refusal is the same page. Requests per client, links and
passwords together, are limited and answered 429.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated

from fastapi import APIRouter, Path
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from maildesk.http.context import Ctx
from maildesk.http.web import links, sessions
from maildesk.http.web.render import page
from maildesk.http.web.security import safe_next
from maildesk.http.web.viewer import PRE_COOKIE, Seen, Viewer, WebError, session_cookie
from maildesk.i18n import N_

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
log = logging.getLogger("maildesk.http.web")

Token = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{20,100}$")]
MAX_FIELD = 1000
PASSWORD_FLOOR = 0.3  # seconds: a refused password is answered no sooner (timing)


async def form_fields(request: Request) -> dict[str, str]:
    """The text fields of an urlencoded or multipart form (files are read where needed)."""
    form = await request.form(max_files=0, max_fields=50)
    return {k: v[:MAX_FIELD * 10] for k, v in form.items() if isinstance(v, str)}


def client_address(request: Request) -> str:
    """Who asks, for the per-client limit: the peer, or behind a proxy on this machine
    (a loopback peer) the address that proxy appended last to X-Forwarded-For (earlier
    entries are the client's own claims)."""
    peer = request.client.host if request.client else "unknown"
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and (peer.startswith("127.") or peer == "::1"):
        last = forwarded.split(",")[-1].strip()
        if last and len(last) <= 64:
            return last
    return peer


@router.get("/login")
async def login_form(seen: Viewer, next: str | None = None) -> Response:
    if seen.session is not None:
        return seen.apply(RedirectResponse(safe_next(next), status_code=303))
    return page(seen, "login.html", page_title=N_("Sign in"), next=safe_next(next))


def _base_url(seen: Seen) -> str:
    """Where links point: `web.base_url`; without it the address `listen.http` binds
    (never the request's Host header, which the requester chooses)."""
    config = seen.ctx.rt.config
    if config.web.base_url:
        return config.web.base_url
    host, port = config.listen.http or ("127.0.0.1", 80)
    return f"http://{host}:{port}"


@router.post("/login")
async def login_submit(ctx: Ctx, seen: Viewer, request: Request) -> Response:
    fields = await form_fields(request)
    seen.check_csrf(fields.get("csrf"))
    client = client_address(request)
    if await ctx.run(links.over_limit, ctx.rt.db, f"client:{client}", links.PER_CLIENT):
        response = page(seen, "message.html", status=429,
                        page_title=N_("Too many attempts"),
                        message=N_("Too many sign-in attempts from here. Wait a few "
                                   "minutes and try again."))
        response.headers["Retry-After"] = str(int(links.WINDOW.total_seconds()))
        return response
    address = fields.get("address", "").strip()[:191]
    if fields.get("method") == "password" or fields.get("password"):
        return await _password_login(seen, address, fields.get("password", ""),
                                     safe_next(fields.get("next")))
    if not address or "@" not in address:
        return page(seen, "login.html", status=422, page_title=N_("Sign in"), next="/",
                    error=N_("Enter the mail address you write to us from."))
    task = BackgroundTask(ctx.run, links.request_link_logged, ctx.rt.db, ctx.rt.config,
                          address, _base_url(seen), seen.lang)
    response = page(seen, "login_sent.html", page_title=N_("Check your mail"),
                    address=address)
    response.background = task
    return response


async def _password_login(seen: Seen, address: str, password: str, next_path: str) -> Response:
    """A customer's password, checked where it lives (maildesk.customers.login: the table,
    then the CRM or directory). Unknown address, wrong password, locked account, an agent's
    address, a backend that is down: one answer, given no sooner than PASSWORD_FLOOR after
    the request came, so neither the page nor its timing tells them apart."""
    from maildesk.customers.login import check_password

    ctx = seen.ctx
    started = time.monotonic()
    verdict = await ctx.run(check_password, ctx.rt.db, ctx.rt.config, address,
                            password[:MAX_FIELD * 10])
    if verdict.ok:
        log.info("web login: <%s> signed in with a password", verdict.address)
        return await _start(seen, "customer", verdict.address, next_path)
    log.info("web login: password refused for <%s> (%s)", verdict.address or "?",
             verdict.why)
    await asyncio.sleep(max(0.0, PASSWORD_FLOOR - (time.monotonic() - started)))
    return page(seen, "login.html", status=422, page_title=N_("Sign in"), next=next_path,
                address=address, password_error=N_(
                    "That address and password do not sign you in. Check them, or wait a "
                    "quarter of an hour after several tries, or ask for a link instead."))


async def _start(seen: Seen, kind: str, address: str, next_path: str) -> Response:
    """A new session (a new id: never one the browser brought) and its cookie."""
    ctx = seen.ctx
    token = await ctx.run(sessions.start, ctx.rt.db, kind, address, seen.lang)
    response = seen.apply(RedirectResponse(next_path, status_code=303))
    response.set_cookie(session_cookie(seen.secure), token, path="/", httponly=True,
                        samesite="lax", secure=seen.secure)
    response.delete_cookie(PRE_COOKIE, path="/")
    return response


@router.get("/login/{token}")
async def link_page(seen: Viewer, token: Token) -> Response:
    """The link's page: a button that signs in (scanners that fetch links do not press
    it). The token is not checked here, so this page tells nothing."""
    return page(seen, "login_link.html", page_title=N_("Sign in"), token=token)


@router.post("/login/{token}")
async def link_use(ctx: Ctx, seen: Viewer, request: Request, token: Token) -> Response:
    fields = await form_fields(request)
    seen.check_csrf(fields.get("csrf"))
    address = await ctx.run(links.consume, ctx.rt.db, token)
    if address is None:
        return page(seen, "message.html", status=400, page_title=N_("Link not valid"),
                    message=N_("This link has been used already or has expired (links "
                               "work once, for 15 minutes). Ask for a new one."),
                    link_login=True)
    from maildesk.http.web.links import identify

    def who() -> str | None:
        with ctx.rt.db.reading() as session:
            return identify(session, ctx.rt.config, address)

    kind = await ctx.run(who)
    if kind is None:  # the agent left the config meanwhile
        raise WebError(403, N_("This address has no access any more."))
    return await _start(seen, kind, address, "/")


@router.post("/logout")
async def logout(ctx: Ctx, seen: Viewer, request: Request) -> Response:
    fields = await form_fields(request)
    seen.check_csrf(fields.get("csrf"))
    if seen.session is not None:
        if fields.get("everywhere"):
            await ctx.run(sessions.end_all, ctx.rt.db, seen.session.address)
        else:
            await ctx.run(sessions.end, ctx.rt.db, seen.session.id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(session_cookie(seen.secure), path="/")
    return response
