"""Hostile text in every field a mail controls: shown as text, never as markup."""

from __future__ import annotations

from maildesk.intake.message import Envelope
from tests.web.conftest import Web

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
RAW = (
    'From: "' + IMG.replace('"', "'") + '" <carol@example.org>\r\n'
    "To: support@example.com\r\n"
    f"Subject: {SCRIPT} printer\r\n"
    "Message-ID: <xss1@example.org>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    f"Body {SCRIPT} and {IMG}\r\n"
    "--b\r\nContent-Type: application/octet-stream\r\n"
    "Content-Disposition: attachment; filename=\"<svg onload=alert(3)>.txt\"\r\n\r\n"
    "data\r\n--b--\r\n"
).encode()


def _assert_inert(text: str) -> None:
    assert "<script>alert" not in text
    assert "<img src=x" not in text
    assert "<svg onload" not in text
    assert "onerror=alert(2)>" not in text or "&gt;" in text


def test_hostile_fields_are_escaped_on_every_page(web: Web) -> None:
    outcome = web.app.ingest(RAW, Envelope("carol@example.org", ("support@example.com",)))
    number = outcome.ticket
    assert number
    alice = web.sign_in("alice@example.com")
    for path in ("/", "/tickets", f"/tickets/{number}", "/tickets?q=printer"):
        page = alice.get(path)
        assert page.status_code == 200, path
        _assert_inert(page.text)
    ticket_page = alice.get(f"/tickets/{number}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; printer" in ticket_page
    assert "svg onload=alert(3)" in ticket_page  # the name as stored, as text
    carol = web.sign_in("carol@example.org", kind="customer", client=web.browser())
    for path in ("/", f"/tickets/{number}"):
        page = carol.get(path)
        assert page.status_code == 200
        _assert_inert(page.text)


def test_hostile_file_name_cannot_break_the_download_header(web: Web) -> None:
    outcome = web.app.ingest(RAW, Envelope("carol@example.org", ("support@example.com",)))
    detail = web.desk.show(outcome.ticket or "")
    digest = detail["articles"][0]["attachments"][0]["sha256"]
    alice = web.sign_in("alice@example.com")
    answer = alice.get(f"/tickets/{outcome.ticket}/attachments/{digest}")
    disposition = answer.headers["content-disposition"]
    plain, _, encoded = disposition.partition("; filename*=UTF-8''")
    assert plain.startswith('attachment; filename="') and plain.count('"') == 2
    assert "<" not in disposition and encoded and all(c not in encoded for c in ' "<>;')


def test_hostile_agent_name_and_ticket_text_from_the_web(web: Web) -> None:
    number = web.ticket()
    carol = web.sign_in("carol@example.org", kind="customer")
    csrf = web.csrf(carol, f"/tickets/{number}")
    carol.post(f"/tickets/{number}/reply", data={"csrf": csrf, "body": f"again {SCRIPT}"})
    csrf = web.csrf(carol, "/tickets/new")
    made = carol.post("/tickets/new", data={"csrf": csrf, "subject": f"{SCRIPT} new",
                                            "body": IMG})
    assert made.status_code == 303
    for path in ("/", f"/tickets/{number}", made.headers["location"]):
        _assert_inert(carol.get(path).text)
    alice = web.sign_in("alice@example.com", client=web.browser())
    for path in ("/tickets", f"/tickets/{number}"):
        _assert_inert(alice.get(path).text)
