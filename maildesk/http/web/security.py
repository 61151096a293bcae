"""The browser-facing defences of the web pages: response headers (a strict CSP, no
framing, no sniffing, no referrer), the CSRF check, and the cookie flags.

CSRF is a synchronizer token: a secret kept server-side (the session row; before login a
random nonce in a cookie) and an HMAC of it in every form (`csrf`) or in htmx's
`X-CSRF-Token` header. As defence in depth an unsafe request whose `Sec-Fetch-Site` says
cross-site, or whose `Origin` is not this site, is refused before the token is looked at.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "SecureHeaders", "cookie_secure", "csrf_token", "csrf_valid",
           "same_origin", "safe_next"]

# No inline script or style anywhere; frames only from ourselves (the HTML-mail frame).
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-src 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),  # login links carry their token in the path
    (b"cross-origin-opener-policy", b"same-origin"),
]
_API_PREFIXES = ("/api/", "/healthz", "/metrics")


class SecureHeaders:
    """Adds the headers above to every web response that does not set its own (the mail
    frame and downloads set stricter ones); the API and metrics are left as they were."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if scope["type"] != "http" or path.startswith(_API_PREFIXES):
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in _HEADERS if k not in present]
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


def csrf_token(app_secret: bytes, secret: str) -> str:
    """What forms carry: an HMAC of the server-side secret (never the secret itself)."""
    return hmac.new(app_secret, b"csrf:" + secret.encode(), hashlib.sha256).hexdigest()


def csrf_valid(app_secret: bytes, secret: str | None, sent: str | None) -> bool:
    if not secret or not sent:
        return False
    return hmac.compare_digest(csrf_token(app_secret, secret), sent)


def same_origin(request: Request, base_url: str | None) -> bool:
    """False for a request a browser says came from another site."""
    if request.headers.get("sec-fetch-site", "same-origin") == "cross-site":
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        # Not sent (older browsers, non-browser clients), or "null": what Chromium sends on
        # a same-origin form post from a page with `Referrer-Policy: no-referrer` (ours).
        # The token decides.
        return True
    allowed = {_origin(str(request.base_url))}
    if base_url:
        allowed.add(_origin(base_url))
    return origin.rstrip("/") in allowed


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def cookie_secure(request: Request, base_url: str | None) -> bool:
    """Secure cookies when the site is reached over https (directly or per base_url)."""
    return request.url.scheme == "https" or bool(base_url and base_url.startswith("https:"))


def safe_next(value: str | None) -> str:
    """A local path to go to after a form, never another site (`//evil`, `/\\evil`,
    `https://...`): anything else is `/`."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(c in value for c in "\r\n\\") or not value.isprintable():
        return "/"
    return value
