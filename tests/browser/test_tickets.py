"""A ticket in a real browser: an agent finds it, reads it, answers it (the customer gets
the mail), runs commands from the page; the customer reads the answer on their side."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Site
from tests.web.conftest import eventually


def test_read_answer_and_command_a_ticket(site: Site, page: Any) -> None:
    number = site.mail("Printer on fire", body="Hello,\nthe printer is on fire.\n")
    site.mail("Invoice 17 is wrong", to="billing@example.com", body="Hi,\nthe sum is off.\n")
    site.sign_in(page, "alice@example.com")
    page.click("nav >> text=Tickets")
    page.wait_for_url(f"{site.url}/tickets")
    assert page.get_by_role("link", name=number).is_visible()
    site.shot(page, "tickets")
    # the search box narrows the list (htmx swaps the rows in place)
    page.fill("#f-q", "printer")
    page.press("#f-q", "Enter")
    page.wait_for_url("**q=printer**")
    expect(page.get_by_text("Invoice 17 is wrong")).to_have_count(0)
    expect(page.get_by_role("link", name=number)).to_be_visible()
    page.get_by_role("link", name=number).click()
    page.wait_for_url(f"{site.url}/tickets/{number}")
    assert "the printer is on fire." in page.locator("article pre").first.inner_text()
    site.shot(page, "ticket")

    before = len(site.sink.to("carol@example.org"))
    page.fill("#text", "We are sending a technician with a fire extinguisher.")
    page.get_by_role("button", name="Send the answer to the customer").click()
    page.wait_for_selector("text=Done.")
    assert page.locator("article pre", has_text="fire extinguisher").count() == 1

    def answered() -> list[str]:
        mails = site.sink.to("carol@example.org")[before:]
        return [m.message["Subject"] for m in mails
                if "fire extinguisher" in m.message.get_content()]
    subjects = eventually(answered, 30)
    assert subjects and number in subjects[0]

    page.fill("#arg-priority", "5")
    page.locator("form.command", has=page.locator("#arg-priority")).locator("button").click()
    page.wait_for_selector("text=Done.")
    facts = page.locator("dl.facts").first
    assert "5" in facts.locator("dd").nth(2).inner_text()
    page.locator("form.command", has=page.locator("input[value=close]")).locator(
        "button").click()
    page.wait_for_selector("text=Done.")
    assert facts.locator("dd").nth(1).inner_text() == "closed successful"
    # a command that cannot run is refused with the reason, nothing applied
    page.fill("#commands", "/move Nowhere")
    page.get_by_role("button", name="Keep as an internal note").click()
    assert page.get_by_role("alert").is_visible()
    expected = [p for p in site.problems if "status of 422" in p]  # that page's status
    assert len(expected) == 1
    site.problems.remove(expected[0])


def test_the_customer_sees_the_answer(site: Site, page: Any) -> None:
    number = site.mail("Printer on fire")
    agent = site.api.desk.cli("show", number)
    assert agent.returncode == 0
    site.sign_in(page, "carol@example.org")
    assert page.locator("h1").inner_text() == "My tickets"
    assert page.get_by_role("link", name=number).is_visible()
    site.shot(page, "customer-home")
    page.get_by_role("link", name=number).click()
    page.wait_for_url(f"{site.url}/tickets/{number}")
    assert "Printer on fire" in page.locator("h1").inner_text()
    site.shot(page, "customer-ticket")
