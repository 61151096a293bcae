"""`/dashboard` over real HTTP: who may see it, what it shows (charts, tables, tiles in the
reader's language), and that it needs nothing a strict CSP blocks."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.conftest import Desk
from tests.web.conftest import Web, serve_web

SUPERVISOR = "    groups: [billing]\n"  # bob: reads Billing only


@pytest.fixture
def dweb(desk: Desk) -> Iterator[Web]:
    text = desk.config_path.read_text()
    assert SUPERVISOR in text
    desk.config_path.write_text(text.replace(SUPERVISOR, SUPERVISOR + "    supervisor: true\n"))
    yield from serve_web(desk)


def test_only_supervisors_see_the_dashboard(dweb: Web) -> None:
    stranger = dweb.browser().get("/dashboard", follow_redirects=False)
    assert stranger.status_code == 303 and stranger.headers["location"].startswith("/login")
    alice = dweb.sign_in("alice@example.com", client=dweb.browser())  # an agent, not one
    refused = alice.get("/dashboard")
    assert refused.status_code == 403 and "supervisors" in refused.text
    assert 'href="/dashboard"' not in alice.get("/").text  # and no link to it
    customer = dweb.sign_in("carol@example.org", "customer", client=dweb.browser())
    assert customer.get("/dashboard").status_code == 403


def test_the_dashboard_shows_the_supervisors_queues_only(dweb: Web) -> None:
    dweb.ticket(subject="Invoice 17 is wrong")  # routed to Billing
    dweb.ticket(subject="Printer on fire")  # Support: bob may not read it
    bob = dweb.sign_in("bob@example.com")
    page = bob.get("/dashboard")
    assert page.status_code == 200, page.text[:300]
    html = page.text
    assert 'href="/dashboard"' in bob.get("/").text  # the nav links to it
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"') == 3
    assert "<script" not in html.split("</head>", 1)[1]
    assert ' style="' not in html
    assert "Billing" in html and "Support" not in html.replace("Example Support", "")
    tiles = {label: value for value, label in re.findall(
        r'<span class="tile-value">([^<]*)</span><span class="tile-label">([^<]*)</span>', html)}
    assert tiles["Opened"] == "1" and tiles["Closed"] == "0" and tiles["Open now"] == "1"
    assert tiles["First responses within the SLA"] == "\u2013"  # no SLA, nothing answered
    # the backlog's numbers: Billing has one new ticket (new, open, pending, total)
    assert '<th scope="row">Billing</th><td>1</td><td>0</td><td>0</td><td>1</td>' in html


def test_the_dashboard_in_german_and_spanish(dweb: Web) -> None:
    dweb.ticket(subject="Invoice 18")
    bob = dweb.sign_in("bob@example.com")
    german = bob.get("/dashboard?lang=de").text
    assert '<html lang="de">' in german
    assert "Eröffnete und geschlossene Tickets pro Tag" in german
    assert "Zahlen anzeigen" in german and "Letzte 30 Tage" in german
    spanish = bob.get("/dashboard?lang=es&days=7").text
    assert '<html lang="es">' in spanish and "Pendientes por cola" in spanish
    assert '<option value="7" selected>' in spanish


def test_a_bad_period_is_the_default_not_an_error(dweb: Web) -> None:
    bob = dweb.sign_in("bob@example.com")
    for days in ("9999", "-1", "abc", "30"):
        page = bob.get("/dashboard", params={"days": days})
        assert page.status_code == 200
        assert '<option value="30" selected>' in page.text
