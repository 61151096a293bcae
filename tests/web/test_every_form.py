"""Issue 16's security point "a CSRF token on every form", proven over every page rather
than form by form: each page an agent, a supervisor and a customer can reach is read, and
every POST form on it must carry the token (a form added later without one fails here)."""

from __future__ import annotations

import re

import httpx

from tests.web.conftest import Web

FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.S | re.I)
POST = re.compile(r'method="post"', re.I)
TOKEN = re.compile(r'<input type="hidden" name="csrf" value="[0-9a-f]{16,}">')


def _forms(client: httpx.Client, path: str) -> list[str]:
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    return [f for f in FORM.findall(page.text) if POST.search(f.split(">", 1)[0])]


def test_every_post_form_on_every_page_carries_the_csrf_token(web: Web) -> None:
    number = web.ticket()
    pages = {"anonymous": (web.browser(), ["/login"]),
             "agent": (web.sign_in("alice@example.com", client=web.browser()),
                       ["/", "/tickets", "/tickets?q=printer", f"/tickets/{number}"]),
             "customer": (web.sign_in("carol@example.org", kind="customer",
                                      client=web.browser()),
                          ["/", f"/tickets/{number}", "/tickets/new"])}
    seen = 0
    for who, (client, paths) in pages.items():
        for path in paths:
            for form in _forms(client, path):
                assert TOKEN.search(form), (who, path, form[:300])
                seen += 1
    # the ticket page alone has the answer form and one per command
    assert seen >= 10, seen
