"""Browser tests: headless Chromium (Debian's, see chromium.py) driven by Playwright against
a real `maildesk serve` with `listen.http` on loopback, and an SMTP sink as the relay that
catches the sign-in mails.

Without Chromium these tests skip with the reason on a developer's machine and fail under
CI (`CI` set): there they must run.

`MAILDESK_SCREENSHOTS=docs/screenshots pytest tests/browser` also saves the main pages as
PNG files into that folder (the README shows them).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.chromium import ensure_chromium
from tests.conftest import Desk, simple_mail, under_ci
from tests.db.serving import Served, free_port, send
from tests.http.conftest import Api
from tests.outbound.conftest import Sink
from tests.web.conftest import eventually

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/login/[A-Za-z0-9_\-]+)")
SUPERVISOR = "    groups: [support, billing]\n"  # alice
SITE = """
web:
  title: Example Support Centre
  base_url: {url}
"""
SLA = "    display_name: Example Support\n"


def _unavailable(reason: str) -> None:
    if under_ci():
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path, reason = ensure_chromium()
    if path is None:
        _unavailable(reason)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # the test extra is not installed
        _unavailable(f"Playwright is not installed ({exc}): pip install -e '.[test]'")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(path), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Site:
    """The served desk, its relay, and what the browser saw go wrong."""

    api: Api
    sink: Sink
    problems: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.api.url

    def mail(self, subject: str, sender: str = "carol@example.org",
             to: str = "support@example.com", body: str = "Hello,\nthe printer.\n") -> str:
        """A customer's mail through the daemon's SMTP; the ticket number it made."""
        raw = simple_mail(subject=subject, sender=sender, to=to, body=body)
        assert send(self.api.smtp_port, raw, sender, to) == 250
        app = self.api.desk.app()
        try:
            from sqlalchemy import select

            from maildesk.store.models import Ticket

            def number() -> str | None:
                with app.db.reading() as s:
                    return s.execute(select(Ticket.number).where(Ticket.title == subject)
                                     ).scalar()
            found = eventually(number, 30)
        finally:
            app.close()
        assert found, f"no ticket for {subject!r}"
        return found

    def sign_in(self, page: Any, address: str) -> None:
        """Sign in as a person would: ask for a link, open it from the mail, press the button."""
        before = len(self.sink.to(address))
        page.goto(f"{self.url}/login")
        page.fill("#address", address)
        page.click("button[type=submit]")
        page.wait_for_selector("text=Check your mail")

        def link_mail() -> list[str]:
            bodies = [m.message.get_content() for m in self.sink.to(address)[before:]]
            return [found.group(1) for b in bodies if (found := LINK.search(b))]

        links = eventually(link_mail, 30)
        assert links, f"no sign-in mail reached {address}"
        page.goto(links[-1])
        page.click("form[action^='/login/'] button[type=submit]")
        page.wait_for_url(f"{self.url}/")

    def shot(self, page: Any, name: str) -> None:
        """Save the page as docs/screenshots/<name>.png when asked to (MAILDESK_SCREENSHOTS)."""
        folder = os.environ.get("MAILDESK_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.fixture
def site(desk: Desk) -> Iterator[Site]:
    relay = Sink().start()
    text = desk.config_path.read_text()
    assert SUPERVISOR in text and SLA in text
    text = text.replace(SUPERVISOR, SUPERVISOR + "    supervisor: true\n", 1)
    text = text.replace(SLA, SLA + "    sla: {first_response: 4h}\n", 1)
    desk.config_path.write_text(text)
    smtp, http = free_port(), free_port()
    url = f"http://127.0.0.1:{http}"
    text = text.replace("smtp: 127.0.0.1:0", f"smtp: 127.0.0.1:{smtp}\n  http: 127.0.0.1:{http}")
    text = text.replace("relay: 127.0.0.1:2\n", f"relay: 127.0.0.1:{relay.port}\n")
    desk.config_path.write_text(text + SITE.format(url=url))
    api = Api(desk, Served(desk, smtp), url, smtp, httpx.Client(base_url=url, timeout=30))
    site = Site(api, relay)
    try:
        yield site
    finally:
        api.client.close()
        api.served.stop()
        relay.stop()


def _favicon(message: Any) -> bool:
    """The browser asks for /favicon.ico by itself; maildesk has none (a 404)."""
    return str(message.location.get("url", "")).endswith("/favicon.ico")


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    """A fresh browser context (no cookies) in English; every console error (a CSP
    violation is one) and every page error fails the test."""
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800},
                                  timezone_id="Europe/Madrid")
    context.set_default_timeout(20_000)
    tab = context.new_page()
    tab.on("console", lambda m: site.problems.append(f"console {m.type}: {m.text}")
           if m.type == "error" and not _favicon(m) else None)
    tab.on("pageerror", lambda e: site.problems.append(f"page error: {e}"))
    try:
        yield tab
    finally:
        context.close()
    assert site.problems == []
