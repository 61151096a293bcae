"""The web pages in a real browser (headless Chromium), as people use them: signing in by
the link in a mail, the overview, the language switch, the supervisors' dashboard. Every
page must load without a console error (a CSP violation is one): see conftest's `page`."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Site


def test_sign_in_by_the_link_in_the_mail(site: Site, page: Any) -> None:
    site.mail("Printer on fire")
    page.goto(f"{site.url}/")
    assert "/login" in page.url  # not signed in: the sign-in page
    site.shot(page, "login")
    site.sign_in(page, "alice@example.com")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Queues"
    row = page.locator("table.counts tbody tr", has_text="Support")
    assert row.locator("td").first.inner_text() == "1"  # one new ticket
    assert page.locator("header .brand").inner_text() == "Example Support Centre"
    site.shot(page, "overview")
    # signing out ends it: the next page asks to sign in again
    page.click("text=Sign out")
    page.goto(f"{site.url}/")
    assert "/login" in page.url


def test_the_language_switch_and_accept_language(site: Site, page: Any, browser: Any) -> None:
    site.sign_in(page, "alice@example.com")
    page.click("nav.langs >> text=Deutsch")
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator("h1").inner_text() == "Queues"  # the same word in German
    assert page.get_by_role("button", name="Abmelden").is_visible()
    page.goto(f"{site.url}/")  # remembered without ?lang=
    assert page.locator("html").get_attribute("lang") == "de"
    page.click("nav.langs >> text=Español")
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.locator("h1").inner_text() == "Colas"
    # a stranger whose browser prefers German gets German without choosing
    context = browser.new_context(locale="de-DE")
    try:
        stranger = context.new_page()
        stranger.goto(f"{site.url}/login")
        assert stranger.locator("html").get_attribute("lang") == "de"
        assert stranger.get_by_role("button", name="Anmeldelink senden").is_visible()
    finally:
        context.close()


def test_the_dashboard(site: Site, page: Any) -> None:
    site.mail("Printer on fire")
    site.mail("Invoice 17 is wrong", to="billing@example.com")
    site.mail("Second printer", sender="dave@example.net")
    site.sign_in(page, "alice@example.com")
    page.click("nav >> text=Dashboard")
    page.wait_for_url(f"{site.url}/dashboard")
    charts = page.locator("svg.chart")
    assert charts.count() == 3
    assert charts.first.get_attribute("role") == "img"
    assert charts.first.locator("title").first.text_content() == \
        "Tickets opened and closed per day"
    tiles = dict(zip(page.locator(".tile-label").all_inner_texts(),
                     page.locator(".tile-value").all_inner_texts(), strict=True))
    assert tiles["Opened"] == "3" and tiles["Open now"] == "3"
    box = charts.first.bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 150  # drawn, not empty
    numbers = page.locator("details").nth(1)
    assert not numbers.locator("table").is_visible()
    numbers.locator("summary").click()
    assert numbers.locator("tbody tr", has_text="Support").locator("td").last.inner_text() == "2"
    site.shot(page, "dashboard")
    page.select_option("#days", "7")
    page.click("form.dash-period button")
    page.wait_for_url(f"{site.url}/dashboard?days=7")
    assert page.locator("#days").input_value() == "7"
    page.goto(f"{site.url}/dashboard?lang=es")
    assert page.locator("svg.chart title").first.text_content() == \
        "Tickets abiertos y cerrados por día"
    site.shot(page, "dashboard-es")
