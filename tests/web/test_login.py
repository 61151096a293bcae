"""Signing in by a mailed link, sessions, CSRF, logout, and the headers every page has."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import time_machine
from sqlalchemy import select

from maildesk.http.web.security import CSP
from maildesk.store.models import OutboxMail, WebSession
from tests.conftest import Desk
from tests.web.conftest import CSRF, Web, eventually, serve_web

LINK = re.compile(rb"https?://[^\s]+/login/([A-Za-z0-9_\-]+)")


def _login_mails(web: Web, to: str) -> list[OutboxMail]:
    with web.app.db.reading() as session:
        rows = list(session.execute(select(OutboxMail).where(
            OutboxMail.kind == "login", OutboxMail.to_addr == to)).scalars())
        session.expunge_all()
    return rows


def _ask_link(web: Web, address: str) -> tuple[int, str]:
    csrf = web.csrf()
    answer = web.client.post("/login", data={"address": address, "csrf": csrf})
    return answer.status_code, answer.text


def _token(web: Web, address: str) -> str:
    rows = eventually(lambda: _login_mails(web, address))
    assert rows, f"no login mail to {address}"
    raw = rows[-1].raw.replace(b"=\r\n", b"")
    found = LINK.search(raw)
    assert found, raw
    return found.group(1).decode()


def test_pages_need_a_session(web: Web) -> None:
    for path in ("/",):
        answer = web.client.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=")


def test_login_by_link_for_an_agent(web: Web) -> None:
    status, text = _ask_link(web, "Alice@Example.com")
    assert status == 200 and "Check your mail" in text
    token = _token(web, "alice@example.com")
    # Opening the link (what a mail scanner does) does not use it.
    page = web.client.get(f"/login/{token}")
    assert page.status_code == 200 and f'action="/login/{token}"' in page.text
    csrf = web.csrf(path=f"/login/{token}")
    used = web.client.post(f"/login/{token}", data={"csrf": csrf})
    assert used.status_code == 303 and used.headers["location"] == "/"
    cookie = used.headers["set-cookie"]
    assert "maildesk_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    home = web.client.get("/")
    assert home.status_code == 200 and "Queues" in home.text
    # Single use: a second browser with the same link gets nothing.
    other = web.browser()
    csrf2 = web.csrf(other, path=f"/login/{token}")
    again = other.post(f"/login/{token}", data={"csrf": csrf2})
    assert again.status_code == 400 and "maildesk_session" not in again.headers.get(
        "set-cookie", "")


def test_unknown_address_gets_the_same_answer_and_no_mail(web: Web) -> None:
    known_status, known = _ask_link(web, "alice@example.com")
    unknown_status, unknown = _ask_link(web, "nobody@example.net")
    assert known_status == unknown_status == 200
    assert known.replace("alice@example.com", "X") == unknown.replace("nobody@example.net", "X")
    assert _login_mails(web, "nobody@example.net") == []


def test_a_customer_with_tickets_gets_a_link(web: Web) -> None:
    web.ticket(sender="carol@example.org")
    _ask_link(web, "carol@example.org")
    token = _token(web, "carol@example.org")
    csrf = web.csrf(path=f"/login/{token}")
    web.client.post(f"/login/{token}", data={"csrf": csrf})
    home = web.client.get("/")
    assert home.status_code == 200 and "My tickets" in home.text


def test_link_expires_after_15_minutes(web: Web) -> None:
    _ask_link(web, "alice@example.com")
    token = _token(web, "alice@example.com")
    csrf = web.csrf(path=f"/login/{token}")
    with time_machine.travel(timedelta(minutes=16)):
        late = web.client.post(f"/login/{token}", data={"csrf": csrf})
    assert late.status_code == 400


def test_links_per_address_are_limited(web: Web) -> None:
    for _ in range(8):
        _ask_link(web, "alice@example.com")
    eventually(lambda: len(_login_mails(web, "alice@example.com")) >= 5)
    time.sleep(0.3)
    assert len(_login_mails(web, "alice@example.com")) == 5


def test_requests_per_client_are_limited(web: Web) -> None:
    statuses = [_ask_link(web, f"x{n}@example.net")[0] for n in range(32)]
    assert statuses[:30] == [200] * 30
    assert statuses[30:] == [429, 429]


def test_behind_a_local_proxy_the_forwarded_client_is_limited(web: Web) -> None:
    """The test client is on loopback, like a TLS proxy on the same machine: clients are
    told apart by the address the proxy appended to X-Forwarded-For."""
    def ask(client: str) -> int:
        csrf = web.csrf()
        return web.client.post("/login", data={"address": "x@example.net", "csrf": csrf},
                               headers={"X-Forwarded-For": f"6.6.6.6, {client}"}
                               ).status_code
    assert [ask("192.0.2.1") for _ in range(31)][-1] == 429
    assert ask("192.0.2.2") == 200  # another client behind the same proxy


def test_login_without_csrf_is_refused(web: Web) -> None:
    web.client.get("/login")
    answer = web.client.post("/login", data={"address": "alice@example.com"})
    assert answer.status_code == 403
    assert _login_mails(web, "alice@example.com") == []


def test_cross_site_post_is_refused_even_with_the_token(web: Web) -> None:
    csrf = web.csrf()
    answer = web.client.post("/login", data={"address": "alice@example.com", "csrf": csrf},
                             headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    answer = web.client.post("/login", data={"address": "alice@example.com", "csrf": csrf},
                             headers={"Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 403


def test_logout_ends_the_session_everywhere_it_is_used(web: Web) -> None:
    web.sign_in("alice@example.com")
    token = web.client.cookies.get("maildesk_session")
    other = web.browser()
    other.cookies.set("maildesk_session", token)
    assert other.get("/").status_code == 200
    csrf = web.csrf(path="/")
    out = web.client.post("/logout", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert other.get("/").status_code == 303  # the copy of the cookie is dead too
    with web.app.db.reading() as session:
        assert session.execute(select(WebSession)).first() is None


def test_sign_out_everywhere_ends_every_session_of_the_person(web: Web) -> None:
    web.sign_in("alice@example.com")
    other = web.sign_in("alice@example.com", client=web.browser())
    bob = web.sign_in("bob@example.com", client=web.browser())
    csrf = web.csrf(path="/")
    web.client.post("/logout", data={"csrf": csrf, "everywhere": "1"})
    assert other.get("/").status_code == 303
    assert bob.get("/").status_code == 200


def test_logout_needs_csrf(web: Web) -> None:
    web.sign_in("alice@example.com")
    assert web.client.post("/logout", data={}).status_code == 403
    assert web.client.get("/").status_code == 200


def test_session_fixation_a_brought_cookie_is_not_adopted(web: Web) -> None:
    web.client.cookies.set("maildesk_session", "attacker-chosen-value-aaaaaaaaaaaaaaaaaaaaa")
    _ask_link(web, "alice@example.com")
    token = _token(web, "alice@example.com")
    csrf = web.csrf(path=f"/login/{token}")
    used = web.client.post(f"/login/{token}", data={"csrf": csrf})
    new = used.cookies.get("maildesk_session")
    assert new and new != "attacker-chosen-value-aaaaaaaaaaaaaaaaaaaaa"


def test_open_redirect_after_login_is_refused(web: Web) -> None:
    web.sign_in("alice@example.com")
    for evil in ("//evil.example", "https://evil.example", "/\\evil.example"):
        answer = web.client.get("/login", params={"next": evil})
        assert answer.status_code == 303 and answer.headers["location"] == "/"
    answer = web.client.get("/login", params={"next": "/tickets?queue=Support"})
    assert answer.headers["location"] == "/tickets?queue=Support"


def test_every_page_has_the_strict_headers(web: Web) -> None:
    for path in ("/login", "/static/app.css", "/nope"):
        answer = web.client.get(path, headers={"Accept": "text/html"})
        assert answer.headers["content-security-policy"] == CSP, path
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
    assert "unsafe-inline" not in CSP and "unsafe-eval" not in CSP


def test_methods_are_checked(web: Web) -> None:
    page = {"Accept": "text/html"}
    wrong = web.client.get("/logout", headers=page)
    assert wrong.status_code == 405 and "<html" in wrong.text
    assert wrong.headers["allow"] == "POST"
    assert web.client.delete("/login", headers=page).status_code == 405
    unknown = web.client.get("/nope")  # not a browser: the API's envelope
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


def test_cookies_are_secure_and_host_bound_behind_https(desk: Desk) -> None:
    desk.config_path.write_text(desk.config_path.read_text()
                                + "web:\n  base_url: https://help.example.com\n")
    for web in serve_web(desk):
        # A Secure cookie does not come back over the test's plain http: sent by hand.
        first = web.client.get("/login")
        pre = first.headers["set-cookie"]
        assert "secure" in pre.lower() and "httponly" in pre.lower()
        web.client.cookies.clear()
        web.client.cookies.set("maildesk_pre", first.cookies["maildesk_pre"])
        csrf = CSRF.search(first.text).group(1)  # type: ignore[union-attr]
        sent = web.client.post("/login", data={"address": "alice@example.com", "csrf": csrf},
                               headers={"Origin": "https://help.example.com"})
        assert sent.status_code == 200
        token = _token(web, "alice@example.com")
        assert "https://help.example.com/login/" in _raw(web, "alice@example.com")
        used = web.client.post(f"/login/{token}", data={"csrf": csrf})
        cookie = used.headers["set-cookie"]
        assert cookie.startswith("__Host-maildesk_session=")
        assert "secure" in cookie.lower() and "httponly" in cookie.lower()


def _raw(web: Web, address: str) -> str:
    return _login_mails(web, address)[-1].raw.replace(b"=\r\n", b"").decode()
