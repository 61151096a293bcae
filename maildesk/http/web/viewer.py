"""Who is looking at a page: their session (if any), language and CSRF token, found once
per request by the `Viewer` dependency; `AgentViewer` and `CustomerViewer` also demand
the right kind of person, sending everyone else to the login page."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import Response

from maildesk.config import Agent
from maildesk.http.context import Ctx, HttpContext
from maildesk.http.web import sessions
from maildesk.http.web.lang import LANGUAGES, negotiate
from maildesk.http.web.security import cookie_secure, csrf_token, csrf_valid, same_origin
from maildesk.i18n import N_

__all__ = ["AgentViewer", "CustomerViewer", "PersonViewer", "Seen", "Viewer", "WebError",
           "NeedLogin"]

PRE_COOKIE = "maildesk_pre"  # before login: the CSRF secret of the login forms
LANG_COOKIE = "maildesk_lang"
LANG_MAX_AGE = 365 * 24 * 3600


class WebError(Exception):
    """A page-level refusal shown as an HTML page with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class NeedLogin(Exception):
    """Not signed in (or the wrong kind of person): to the login page, then back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def session_cookie(secure: bool) -> str:
    """`__Host-` binds the cookie to this host, https and path / (no subdomain may set it)."""
    return "__Host-maildesk_session" if secure else "maildesk_session"


@dataclass
class Seen:
    ctx: HttpContext
    request: Request
    session: sessions.SessionInfo | None
    lang: str
    secure: bool
    pre: str | None = None  # the pre-session CSRF secret, from the cookie or new
    new_cookies: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str | None:
        return self.session.kind if self.session else None

    @property
    def address(self) -> str:
        return self.session.address if self.session else ""

    @property
    def agent(self) -> Agent | None:
        if self.session is None or self.session.kind != "agent":
            return None
        return self.ctx.rt.config.agent(self.session.address)

    def _secret(self) -> str:
        if self.session is not None:
            return self.session.csrf
        if self.pre is None:
            self.pre = secrets.token_urlsafe(32)
            self.new_cookies[PRE_COOKIE] = self.pre
        return self.pre

    @property
    def csrf(self) -> str:
        return csrf_token(self.ctx.rt.secret, self._secret())

    def check_csrf(self, sent: str | None) -> None:
        """Every unsafe request: the token of this session (or pre-session) and no
        cross-site origin; 403 otherwise."""
        sent = sent or self.request.headers.get("x-csrf-token")
        secret = self.session.csrf if self.session is not None else self.pre
        base_url = self.ctx.rt.config.web.base_url
        if not same_origin(self.request, base_url) or not csrf_valid(
                self.ctx.rt.secret, secret, sent):
            raise WebError(403, N_("This form is out of date or came from another site. "
                                   "Go back, reload the page and send it again."))

    def apply(self, response: Response) -> Response:
        """The cookies this request decided on."""
        for name, value in self.new_cookies.items():
            max_age = LANG_MAX_AGE if name == LANG_COOKIE else None
            response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                                samesite="lax", secure=self.secure)
        return response


async def _seen(ctx: Ctx, request: Request) -> Seen:
    secure = cookie_secure(request, ctx.rt.config.web.base_url)
    token = request.cookies.get(session_cookie(secure))
    idle = ctx.rt.config.web.session_idle
    info = await ctx.run(sessions.find, ctx.rt.db, token, idle) if token else None
    if info is not None and info.kind == "agent" and ctx.rt.config.agent(info.address) is None:
        info = None  # no longer one of the config's agents
    asked = request.query_params.get("lang")
    chosen = asked if asked in LANGUAGES else None
    remembered = (info.lang if info else None) or request.cookies.get(LANG_COOKIE)
    lang = negotiate(chosen or remembered, request.headers.get("accept-language"),
                     ctx.rt.config.instance.default_language)
    pre = request.cookies.get(PRE_COOKIE)
    seen = Seen(ctx, request, info, lang, secure,
                pre=pre if pre and len(pre) <= 100 else None)
    if chosen is not None and chosen != request.cookies.get(LANG_COOKIE):
        seen.new_cookies[LANG_COOKIE] = chosen
    if chosen is not None and info is not None and info.lang != chosen:
        await ctx.run(sessions.set_lang, ctx.rt.db, info.id, chosen)
    return seen


def _next(request: Request) -> str:
    path = request.url.path
    return path + (f"?{request.url.query}" if request.url.query else "")


async def _person(seen: Annotated[Seen, Depends(_seen)]) -> Seen:
    if seen.session is None:
        raise NeedLogin(_next(seen.request))
    return seen


async def _agent(seen: Annotated[Seen, Depends(_seen)]) -> Seen:
    if seen.session is None:
        raise NeedLogin(_next(seen.request))
    if seen.agent is None:
        raise WebError(403, N_("This page is for agents."))
    return seen


async def _customer(seen: Annotated[Seen, Depends(_seen)]) -> Seen:
    if seen.session is None:
        raise NeedLogin(_next(seen.request))
    if seen.session.kind != "customer":
        raise WebError(403, N_("This page is for customers."))
    return seen


Viewer = Annotated[Seen, Depends(_seen)]  # anyone, signed in or not
PersonViewer = Annotated[Seen, Depends(_person)]  # signed in
AgentViewer = Annotated[Seen, Depends(_agent)]
CustomerViewer = Annotated[Seen, Depends(_customer)]
