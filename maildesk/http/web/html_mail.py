"""A mail's HTML part for the web pages: sanitised with nh3 (ammonia) and shown in a
sandboxed frame loaded from its own URL, never inline in the page.

The frame's answer has its own CSP: no script at all (`sandbox` without allow-scripts
gives it an opaque origin too), the mail's inline styles allowed, no remote images (they
are trackers: only `data:` and the ticket's own `cid:` parts would be safe, and `cid:`
images are not rewritten yet, so they do not show). A `srcdoc` frame would inherit the
page's strict CSP and lose the mail's styles (research: wave2.md section 5).
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import nh3

__all__ = ["FRAME_CSP", "html_part", "sanitise"]

FRAME_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
             "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox")
TAGS = set(nh3.ALLOWED_TAGS) | {"style", "font"}
ATTRIBUTES = {k: set(v) for k, v in nh3.ALLOWED_ATTRIBUTES.items()}
ATTRIBUTES["*"] = {"style", "class", "id", "lang", "dir", "title", "align", "bgcolor",
                   "width", "height", "valign"}
ATTRIBUTES["font"] = {"color", "face", "size"}
MAX_HTML = 2 * 1024 * 1024  # larger parts are cut (a page, not a download)


def html_part(raw: bytes) -> str | None:
    """The first text/html part that is not an attachment, decoded; None without one."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception:  # a damaged mail: its text is on the page already
        return None
    if not isinstance(message, EmailMessage):
        return None
    try:
        part = message.get_body(preferencelist=("html",))
        if part is None:
            return None
        content = part.get_content()
    except (LookupError, ValueError, AssertionError, KeyError):
        return None
    return content[:MAX_HTML] if isinstance(content, str) else None


def sanitise(html: str) -> str:
    return nh3.clean(html, tags=TAGS, clean_content_tags={"script", "template"},
                     attributes=ATTRIBUTES,
                     url_schemes={"http", "https", "mailto", "cid"},
                     link_rel="noopener noreferrer nofollow")
