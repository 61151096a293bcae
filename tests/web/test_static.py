"""The vendored htmx, the templates' CSP discipline, and files served by maildesk itself."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from maildesk.http.web.render import TEMPLATES
from maildesk.http.web.static import STATIC
from tests.web.conftest import Web

# npm `htmx.org` 2.0.11, package/dist/htmx.min.js (0BSD, its licence beside it). An
# upgrade changes this on purpose, after checking the CSP notes in docs/web.md.
HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"


def test_vendored_htmx_is_the_recorded_version() -> None:
    data = (STATIC / "htmx.min.js").read_bytes()
    assert hashlib.sha256(data).hexdigest() == HTMX_SHA256
    assert "Zero-Clause BSD" in (STATIC / "htmx.LICENSE.txt").read_text()


def test_templates_have_no_inline_script_style_or_eval() -> None:
    """The CSP forbids them; htmx's eval features (hx-on, trigger filters, js: values)
    would silently misbehave under it (research: wave2.md section 5)."""
    pages = sorted(Path(TEMPLATES).glob("*.html"))
    assert pages
    for path in pages:
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path
        assert "<style" not in text and " style=" not in text, path
        assert not re.search(r"\bon[a-z]+=", text), path
        assert "hx-on" not in text and "js:" not in text and "javascript:" not in text, path
        assert not re.search(r'hx-trigger="[^"]*\[', text), path
        assert "|safe" not in text, path
        # _() marks its result safe: only literal msgids go in; values use tr().
        assert not re.search(r"\b_\((?!['\"])", text), path


def test_static_files_are_served_and_nothing_else(web: Web) -> None:
    htmx = web.client.get("/static/htmx.min.js")
    assert htmx.status_code == 200 and htmx.content == (STATIC / "htmx.min.js").read_bytes()
    assert "javascript" in htmx.headers["content-type"]
    for path in ("/static/../viewer.py", "/static/%2e%2e%2fviewer.py", "/static/nope.js"):
        assert web.client.get(path).status_code == 404, path


def test_no_logo_configured_is_404(web: Web) -> None:
    assert web.client.get("/branding/logo").status_code == 404
    assert "/branding/logo" not in web.client.get("/login").text
