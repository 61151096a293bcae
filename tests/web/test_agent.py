"""Agents' pages: the overview, the list (filters, sort, search, pages), a ticket with its
articles, attachments, history and clocks; and what an agent outside a queue sees: nothing.

In tests/conftest.py's config alice has support and billing (Support, Sales, Junk read,
Billing), bob only billing (Billing without `owner`/`merge`)."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import Web

# The pages' own SQL (counts, filters, search, the engine's row lock) on every backend.
pytestmark = pytest.mark.backends


def test_overview_counts_by_state_in_readable_queues_only(web: Web) -> None:
    web.ticket(subject="one")
    web.ticket(subject="two")
    web.ticket(subject="an invoice", to="billing@example.com")
    alice = web.sign_in("alice@example.com")
    page = alice.get("/").text
    assert "Support" in page and "Billing" in page
    assert re.search(r'href="/tickets\?queue=Support&amp;state=new">2<', page)
    bob = web.sign_in("bob@example.com", client=web.browser())
    page = bob.get("/").text
    assert "Billing" in page and "Support" not in page and "Sales" not in page


def test_list_filters_sort_search_and_pages(web: Web) -> None:
    for n in range(53):
        web.ticket(subject=f"printer {n:02d}", body=f"word{n} body\n")
    web.ticket(subject="the scanner", body="zebra\n")
    alice = web.sign_in("alice@example.com")
    first = alice.get("/tickets", params={"queue": "Support"})
    assert first.status_code == 200
    assert first.text.count('<tr>\n    <td><a href="/tickets/') == 50
    assert 'rel="next"' in first.text
    second = alice.get("/tickets", params={"queue": "Support", "page": "2"})
    assert second.text.count('<tr>\n    <td><a href="/tickets/') == 4
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
    found = alice.get("/tickets", params={"q": "zebra"})
    assert "the scanner" in found.text and "printer 01" not in found.text
    by_number = alice.get("/tickets", params={"sort": "number", "queue": "Support"}).text
    numbers = re.findall(r'<td><a href="/tickets/(\w+)">', by_number)
    assert numbers == sorted(numbers)
    closed = alice.get("/tickets", params={"state": "closed successful"})
    assert "No tickets match." in closed.text
    # htmx asks for the rows only.
    rows = alice.get("/tickets", params={"q": "zebra"}, headers={"HX-Request": "true"})
    assert rows.text.lstrip().startswith('<div id="ticket-rows">')


def test_an_agent_without_read_sees_nothing_of_the_queue(web: Web) -> None:
    number = web.ticket(subject="secret support thing", body="hidden words\n")
    bob = web.sign_in("bob@example.com")
    assert "secret support thing" not in bob.get("/tickets").text
    assert "secret support thing" not in bob.get("/tickets", params={"queue": "Support"}).text
    assert "secret support thing" not in bob.get("/tickets", params={"q": "hidden"}).text
    page = bob.get(f"/tickets/{number}")
    assert page.status_code == 404 and "secret" not in page.text
    with web.app.db.reading() as session:
        from sqlalchemy import select

        from maildesk.store.models import Article

        article_id = session.execute(select(Article.id)).scalars().first()
    assert bob.get(f"/tickets/{number}/articles/{article_id}/html").status_code == 404
    csrf = web.csrf(bob, "/")
    act = bob.post(f"/tickets/{number}/act", data={"csrf": csrf, "text": "hi",
                                                   "mode": "reply"})
    assert act.status_code == 404


def test_ticket_page_shows_articles_history_and_clocks(web: Web) -> None:
    number = web.ticket(subject="Printer on fire", body="It burns.\n")
    alice = web.sign_in("alice@example.com")
    page = alice.get(f"/tickets/{number}")
    assert page.status_code == 200
    assert "Printer on fire" in page.text and "It burns." in page.text
    assert "History" in page.text and "SLA clocks" in page.text
    assert '<html lang="en">' in page.text
    for name in ("close", "move", "lock", "unlock", "priority", "pending", "assign",
                 "note", "tag", "cc", "merge", "reopen"):
        assert f'name="command" value="{name}"' in page.text, name


def test_attachments_download_never_inline(web: Web) -> None:
    raw = (b"From: Carol <carol@example.org>\r\nTo: support@example.com\r\n"
           b"Subject: with a file\r\nMessage-ID: <att1@example.org>\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n"
           b"--b\r\nContent-Type: text/html\r\n"
           b"Content-Disposition: attachment; filename=\"x.html\"\r\n\r\n"
           b"<script>alert(1)</script>\r\n--b--\r\n")
    from maildesk.intake.message import Envelope

    number = web.app.ingest(raw, Envelope("carol@example.org", ("support@example.com",))
                            ).ticket
    alice = web.sign_in("alice@example.com")
    page = alice.get(f"/tickets/{number}").text
    link = re.search(r'href="(/tickets/[^"]+/attachments/[0-9a-f]{64})"', page)
    assert link, page
    answer = alice.get(link.group(1))
    assert answer.status_code == 200 and answer.content.startswith(b"<script>")
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in answer.headers["content-security-policy"]
    bad = alice.get(f"/tickets/{number}/attachments/{'0' * 64}")
    assert bad.status_code == 404


def test_html_mail_is_sanitised_in_its_own_sandboxed_frame(web: Web) -> None:
    raw = (b"From: Carol <carol@example.org>\r\nTo: support@example.com\r\n"
           b"Subject: html\r\nMessage-ID: <html1@example.org>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/html; charset=utf-8\r\n\r\n"
           b"<p style=\"color:red\" onclick=\"evil()\">Hi</p><script>steal()</script>"
           b"<a href=\"javascript:evil()\">x</a><img src=\"https://tracker.example/p.gif\">")
    from maildesk.intake.message import Envelope

    number = web.app.ingest(raw, Envelope("carol@example.org", ("support@example.com",))
                            ).ticket
    alice = web.sign_in("alice@example.com")
    page = alice.get(f"/tickets/{number}").text
    frame = re.search(r'<iframe sandbox src="([^"]+)"', page)
    assert frame, page
    html = alice.get(frame.group(1))
    assert html.status_code == 200
    assert "steal()" not in html.text and "onclick" not in html.text
    assert "javascript:" not in html.text and 'style="color:red"' in html.text
    csp = html.headers["content-security-policy"]
    assert "sandbox" in csp and "script-src" not in csp and "default-src 'none'" in csp
    assert "img-src data:" in csp  # the tracker is not loaded
    assert html.headers["x-frame-options"] == "SAMEORIGIN"


def test_language_switch_is_remembered_and_named(web: Web) -> None:
    alice = web.sign_in("alice@example.com")
    page = alice.get("/", params={"lang": "es"})
    assert '<html lang="es">' in page.text
    assert '<html lang="es">' in alice.get("/").text  # remembered in the session
    other = web.browser()
    assert '<html lang="de">' in other.get("/login", headers={
        "Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}).text
    assert '<html lang="en">' in other.get("/login", params={"lang": "xx"}).text


def test_branding_on_every_page(desk) -> None:  # noqa: ANN001
    from tests.web.conftest import serve_web

    logo = desk.root / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    desk.config_path.write_text(desk.config_path.read_text() + (
        f"web:\n  title: Acme <Help> Desk\n  logo: {logo}\n"))
    for web in serve_web(desk):
        assert "Acme &lt;Help&gt; Desk" in web.client.get("/login").text
        web.sign_in("alice@example.com")
        for path in ("/", "/tickets", "/nope"):
            text = web.client.get(path, headers={"Accept": "text/html"}).text
            assert "Acme &lt;Help&gt; Desk" in text and "<Help>" not in text, path
            assert 'src="/branding/logo"' in text, path
        image = web.client.get("/branding/logo")
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"


def test_customer_cannot_use_agent_pages(web: Web) -> None:
    number = web.ticket(sender="carol@example.org")
    carol = web.sign_in("carol@example.org", kind="customer")
    assert carol.get("/tickets").status_code == 303  # to their own list
    csrf = web.csrf(carol, "/")
    act = carol.post(f"/tickets/{number}/act", data={"csrf": csrf, "command": "close"})
    assert act.status_code == 403


@pytest.mark.parametrize(("lang", "event", "before", "state"), [
    ("en", "state changed", "before: new", "closed successful"),
    ("es", "estado cambiado", "antes: nuevo", "cerrado con éxito"),
    ("de", "Status geändert", "vorher: neu", "erfolgreich geschlossen"),
])
def test_history_and_overview_in_the_readers_language(web: Web, lang: str, event: str,
                                                      before: str, state: str) -> None:
    number = web.ticket(subject="Printer on fire")
    alice = web.sign_in("alice@example.com")
    alice.get("/", params={"lang": lang})
    csrf = web.csrf(alice, "/")
    assert alice.post(f"/tickets/{number}/act", data={"csrf": csrf, "command": "close"}
                      ).status_code == 303
    page = alice.get(f"/tickets/{number}").text
    history = page[page.index('<ol class="history">'):]
    assert event in history and before in history, history[:2000]
    assert "sender_type" not in history and "old:" not in history
    overview = alice.get("/").text
    assert f">{state}</th>" in overview
    assert 'state=closed%20successful">1<' in overview, overview


def test_html_frame_only_for_articles_with_html(web: Web) -> None:
    from maildesk.intake.message import Envelope

    plain = web.ticket(subject="plain text only")
    html = web.app.ingest(
        b"From: Carol <carol@example.org>\r\nTo: support@example.com\r\nSubject: html\r\n"
        b"Message-ID: <alt1@example.org>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: text/plain\r\n\r\nHi\r\n--b\r\nContent-Type: text/html\r\n\r\n"
        b"<p>Hi</p>\r\n--b--\r\n",
        Envelope("carol@example.org", ("support@example.com",))).ticket
    alice = web.sign_in("alice@example.com")
    for _ in range(2):  # the first view learns it, the second reads it back
        assert "<iframe" not in alice.get(f"/tickets/{plain}").text
        assert alice.get(f"/tickets/{html}").text.count("<iframe") == 1
    with web.app.db.reading() as session:
        from sqlalchemy import select

        from maildesk.store.models import Article

        assert sorted(session.scalars(select(Article.has_html))) == [False, True]
