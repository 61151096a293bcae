"""The knowledge base in a running `maildesk serve`: the public entry page, SIGHUP reloading
the folder, and the counters on /metrics, over real SMTP and HTTP on loopback."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildesk.http.kb import render_entry
from tests.conftest import simple_mail
from tests.db.serving import send, wait_for
from tests.http.conftest import Api, serve_api
from tests.kb.conftest import kb_desk
from tests.kb.test_first_level import autoresponses


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Api]:
    desk = kb_desk(tmp_path / "desk", extra="web:\n  base_url: https://help.example.com\n")
    api = serve_api(desk)
    yield api
    api.client.close()
    api.served.stop()


def test_entry_page_is_rendered_sanitised_and_reloaded_on_sighup(served: Api) -> None:
    page = served.client.get("/kb/reset-password")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src" not in page.headers["content-security-policy"]  # none allowed
    assert "<h1>How do I reset my password?</h1>" in page.text
    assert "<strong>Forgot password?</strong>" in page.text
    assert served.client.get("/kb/no-such-entry").status_code == 404

    kb: Path = served.desk.root / "knowledge"
    (kb / "new-entry.md").write_text(
        "---\ntitle: <b>Opening</b> hours & days\nlanguage: en\n---\n"
        "We are open **Monday to Friday**.\n\n<script>alert(1)</script>\n\n"
        "[click](javascript:alert(2)) <img src=x onerror=alert(3)>\n")
    assert served.client.get("/kb/new-entry").status_code == 404  # not before SIGHUP
    served.served.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: served.client.get("/kb/new-entry").status_code == 200, 30,
             "the new entry after SIGHUP")
    text = served.client.get("/kb/new-entry").text
    assert "<h1>&lt;b&gt;Opening&lt;/b&gt; hours &amp; days</h1>" in text
    assert "<strong>Monday to Friday</strong>" in text
    assert "<script" not in text and "<img" not in text and 'href="javascript' not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # shown as text, not run


def test_metrics_count_suggestions_and_solved_tickets(served: Api) -> None:
    port = served.smtp_port
    raw = simple_mail(subject="cant login", body="I forgot my password, can't log in.\n")
    assert send(port, raw, "carol@example.org") == 250
    wait_for(lambda: len(autoresponses(served.desk)) == 1, 30, "the auto-response")
    auto = autoresponses(served.desk)[0]
    assert "https://help.example.com/kb/reset-password" in auto.get_body().get_content()
    answer = simple_mail(subject="Re: x", body="solved\n", headers={
        "In-Reply-To": auto["Message-ID"]})
    assert send(port, answer, "carol@example.org") == 250

    def counted() -> bool:
        text = served.client.get("/metrics").text
        return bool(re.search(r"^maildesk_kb_suggestions_offered_total 1\.0$", text, re.M)
                    and re.search(r'^maildesk_kb_solved_by_customer_total\{after_suggestion='
                                  r'"true"\} 1\.0$', text, re.M))

    wait_for(counted, 60, "the knowledge base counters on /metrics")


def test_render_entry_escapes_and_sanitises() -> None:
    html = render_entry("Desk <&>", "A \"title\" <i>", "en",
                        "Text <iframe src=//evil></iframe> and [x](https://ok.example)")
    assert "<title>A &quot;title&quot; &lt;i&gt; · Desk &lt;&amp;&gt;</title>" in html
    assert "<iframe" not in html
    assert 'href="https://ok.example"' in html and 'rel="noopener noreferrer nofollow"' in html
