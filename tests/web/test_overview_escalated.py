"""Issue 16: "queue overview with counts by state and escalation". A ticket whose SLA
clock (first response) is breached is counted in its queue's escalated column, which
links to the list of exactly those tickets; a ticket within its clock is not."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, timedelta

import pytest
import time_machine

from maildesk.store.models import utcnow
from maildesk.timers.run import run_until_idle
from tests.conftest import Desk
from tests.web.conftest import Web, serve_web


@pytest.fixture
def sla_web(desk: Desk) -> Iterator[Web]:
    desk.config_path.write_text(desk.config_path.read_text().replace(
        "    on_closed_followup: reopen\n",
        "    on_closed_followup: reopen\n    sla: {first_response: 1h}\n", 1))
    yield from serve_web(desk)


def test_the_overview_counts_breached_tickets_and_links_to_them(sla_web: Web) -> None:
    with time_machine.travel((utcnow() - timedelta(hours=3)).replace(tzinfo=UTC), tick=False):
        late = sla_web.ticket(subject="waiting since morning")
    fresh = sla_web.ticket(subject="just in")
    run_until_idle(sla_web.app)  # the breach is found by the timers, as in `serve`
    alice = sla_web.sign_in("alice@example.com")
    page = alice.get("/").text
    link = re.search(r'<a href="(/tickets\?queue=Support&amp;escalated=1)">(\d+)</a>', page)
    assert link and link.group(2) == "1", page
    listed = alice.get(link.group(1).replace("&amp;", "&")).text
    assert late in listed and fresh not in listed
