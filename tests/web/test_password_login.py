"""Customers signing in with a password (issues 16 and 17): each hash form, one answer for
every refusal, the lockout and its end, the limits and CSRF of the other forms, never for
agents; the session is the one a mailed link makes."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import time_machine
from sqlalchemy import select

from maildesk.customers.passwords import LOCK_FOR, MAX_FAILURES, hash_password
from maildesk.http.web import links
from maildesk.store.models import Customer, WebSession
from tests.web.conftest import Web

# Hashes made outside maildesk (see tests/unit/test_passwords.py for where each came from).
FORMS = {
    "argon2id": ("correct horse",
                 "$argon2id$v=19$m=1024,t=1,p=1$pDClRfSAM/PPgrtlfaNhLw$wQEalvxheYkL/xQJSBTc"
                 "JWd8TVkgu3vXvIVpOgT1910"),
    "bcrypt-2y": ("rasmuslerdorf",
                  "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a"),
    "sha512-crypt": ("correct horse",
                     "$6$Wm2Q5uGf8kLp3sXz$.5DLNR699HAa0UJtOGumfG5D.VvuumMXkGCcmI7A03HmYHxYO4"
                     "nnSqU1CqjqlCkVTzSfjwPGOHM7XdLHtLNgJ1"),
}


def add_customer(web: Web, address: str, *, password: str | None = None,
                 stored: str | None = None, company: str | None = None,
                 admin: bool = False) -> None:
    with web.app.db.transaction() as session:
        session.add(Customer(address=address, name="", company=company, company_admin=admin,
                             password_hash=stored or (hash_password(password)
                                                      if password else None)))


def password_login(web: Web, address: str, password: str, client: httpx.Client | None = None,
                   next_path: str = "/") -> httpx.Response:
    """The password form as a browser sends it (a fresh browser unless one is given)."""
    client = client or web.browser()
    csrf = web.csrf(client)
    return client.post("/login", data={"csrf": csrf, "next": next_path, "method": "password",
                                       "address": address, "password": password})


def _state(web: Web, address: str) -> tuple[int, object]:
    with web.app.db.reading() as session:
        row = session.execute(select(Customer).where(Customer.address == address)).scalar_one()
        return row.failed_logins, row.locked_until


@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_customer_signs_in_with_a_password_of_each_form(web: Web, form: str) -> None:
    password, stored = FORMS[form]
    add_customer(web, "carol@example.org", stored=stored)
    number = web.ticket(sender="carol@example.org")
    browser = web.browser()
    answer = password_login(web, "Carol@Example.org", password, browser,
                            next_path=f"/tickets/{number}")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/tickets/{number}"
    cookie = answer.headers["set-cookie"]
    assert "maildesk_session=" in cookie and "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert browser.get(f"/tickets/{number}").status_code == 200
    assert "My tickets" in browser.get("/").text
    with web.app.db.reading() as session:  # the session a link makes: server-side, customer
        [row] = session.execute(select(WebSession)).scalars()
        assert (row.kind, row.address) == ("customer", "carol@example.org")


def test_the_login_page_offers_both_ways(web: Web) -> None:
    page = web.client.get("/login").text
    assert 'name="method" value="password"' in page
    assert 'type="password"' in page and "Send me a sign-in link" in page


def _refusal(web: Web, address: str, password: str,
             browser: httpx.Client) -> tuple[int, str, bool]:
    answer = password_login(web, address, password, browser)
    normal = answer.text.replace(address, "ADDRESS")
    return answer.status_code, normal, "maildesk_session" in answer.headers.get(
        "set-cookie", "")


@pytest.mark.backends
def test_every_refusal_is_the_same_answer(web: Web) -> None:
    add_customer(web, "carol@example.org", password="right password")
    add_customer(web, "alice@example.com", password="agents never")  # an agent's address
    add_customer(web, "nohash@example.org")  # a customer without a password
    add_customer(web, "dave@example.org", password="right password")
    for _ in range(MAX_FAILURES):
        password_login(web, "dave@example.org", "wrong")
    browser = web.browser()  # one browser: its form token is the same on every page
    answers = {
        "unknown": _refusal(web, "nobody@example.net", "right password", browser),
        "wrong": _refusal(web, "carol@example.org", "wrong password", browser),
        "locked, right password": _refusal(web, "dave@example.org", "right password", browser),
        "agent": _refusal(web, "alice@example.com", "agents never", browser),
        "no password": _refusal(web, "nohash@example.org", "anything", browser),
        "empty password": _refusal(web, "carol@example.org", "", browser),
    }
    first = answers["unknown"]
    assert first[0] == 422 and not first[2]
    assert "do not sign you in" in first[1]
    for why, answer in answers.items():
        assert answer == first, why
    with web.app.db.reading() as session:
        assert session.execute(select(WebSession)).first() is None
        # a refused unknown address leaves no trace in the customer table
        assert session.execute(select(Customer).where(
            Customer.address == "nobody@example.net")).first() is None


@pytest.mark.backends
def test_lockout_after_wrong_passwords_and_unlock_after_the_time(web: Web) -> None:
    add_customer(web, "carol@example.org", password="right password")
    for n in range(1, MAX_FAILURES):
        assert password_login(web, "carol@example.org", f"wrong {n}").status_code == 422
        assert _state(web, "carol@example.org") == (n, None)
    password_login(web, "carol@example.org", "wrong again")
    failed, locked_until = _state(web, "carol@example.org")
    assert failed == 0 and locked_until is not None
    # Locked: the right password is refused too, and trying does not extend the lock.
    assert password_login(web, "carol@example.org", "right password").status_code == 422
    assert _state(web, "carol@example.org")[1] == locked_until
    with time_machine.travel(timedelta(minutes=LOCK_FOR.total_seconds() / 60 - 1)):
        assert password_login(web, "carol@example.org", "right password").status_code == 422
    with time_machine.travel(LOCK_FOR + timedelta(seconds=5)):
        answer = password_login(web, "carol@example.org", "right password")
        assert answer.status_code == 303
        assert _state(web, "carol@example.org") == (0, None)


def test_a_right_password_resets_the_count(web: Web) -> None:
    add_customer(web, "carol@example.org", password="right password")
    for _ in range(MAX_FAILURES - 1):
        password_login(web, "carol@example.org", "wrong")
    assert password_login(web, "carol@example.org", "right password").status_code == 303
    assert _state(web, "carol@example.org") == (0, None)
    password_login(web, "carol@example.org", "wrong")
    assert _state(web, "carol@example.org") == (1, None)


def test_password_posts_count_in_the_per_client_limit(web: Web) -> None:
    add_customer(web, "carol@example.org", password="right password")
    browser = web.browser()
    for n in range(links.PER_CLIENT):
        csrf = web.csrf(browser)
        assert browser.post("/login", data={"csrf": csrf, "address": f"x{n}@example.net"}
                            ).status_code == 200
    answer = password_login(web, "carol@example.org", "right password", browser)
    assert answer.status_code == 429 and "retry-after" in answer.headers
    assert "maildesk_session" not in answer.headers.get("set-cookie", "")


def test_password_form_needs_csrf(web: Web) -> None:
    add_customer(web, "carol@example.org", password="right password")
    browser = web.browser()
    browser.get("/login")
    answer = browser.post("/login", data={"method": "password", "address": "carol@example.org",
                                          "password": "right password"})
    assert answer.status_code == 403
    csrf = web.csrf(browser)
    cross = browser.post("/login", data={"csrf": csrf, "method": "password",
                                         "address": "carol@example.org",
                                         "password": "right password"},
                         headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403


def test_agents_never_sign_in_with_a_password(web: Web) -> None:
    """Even with a hash in the customer table under an agent's address."""
    add_customer(web, "alice@example.com", password="right password")
    answer = password_login(web, "alice@example.com", "right password")
    assert answer.status_code == 422
    assert "maildesk_session" not in answer.headers.get("set-cookie", "")


def test_a_session_brought_in_is_not_adopted(web: Web) -> None:
    add_customer(web, "carol@example.org", password="right password")
    browser = web.browser()
    browser.cookies.set("maildesk_session", "attacker-chosen-value-aaaaaaaaaaaaaaaaaaaaa")
    answer = password_login(web, "carol@example.org", "right password", browser)
    new = answer.cookies.get("maildesk_session")
    assert new and new != "attacker-chosen-value-aaaaaaaaaaaaaaaaaaaaa"


def test_next_is_kept_local(web: Web) -> None:
    add_customer(web, "carol@example.org", password="right password")
    answer = password_login(web, "carol@example.org", "right password",
                            next_path="//evil.example")
    assert answer.status_code == 303 and answer.headers["location"] == "/"
