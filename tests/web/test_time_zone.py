"""Issue 16: "Dates in the person's time zone". An agent's `timezone` (config) decides
how the web pages show times; without one, the instance's `timezone`; and the stored time
stays UTC. Proven on the ticket page and the history, for two agents reading one ticket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from maildesk.http.web.lang import format_datetime
from maildesk.store.models import Article
from tests.conftest import Desk
from tests.web.conftest import Web, serve_web


@pytest.fixture
def zoned(desk: Desk) -> Iterator[Web]:
    """alice in Tokyo (UTC+9, no summer time), the instance in UTC, bob without a zone."""
    text = desk.config_path.read_text().replace(
        "    groups: [support, billing]\n",
        "    groups: [support, billing]\n    timezone: Asia/Tokyo\n", 1)
    desk.config_path.write_text(text.replace("    groups: [billing]\n",
                                             "    groups: [billing, support]\n", 1))
    yield from serve_web(desk)


def test_each_agent_reads_times_in_their_own_zone(zoned: Web) -> None:
    number = zoned.ticket()
    with zoned.app.db.reading() as session:
        stored = session.scalars(select(Article.created_at)).one()
    tokyo = format_datetime(stored, "en", "Asia/Tokyo")
    utc = format_datetime(stored, "en", "UTC")
    assert tokyo != utc
    alice = zoned.sign_in("alice@example.com").get(f"/tickets/{number}").text
    bob = zoned.sign_in("bob@example.com", client=zoned.browser()).get(
        f"/tickets/{number}").text
    assert tokyo in alice and utc not in alice
    assert utc in bob and tokyo not in bob


def test_a_bad_agent_time_zone_is_a_config_error_with_its_line(desk: Desk) -> None:
    text = desk.config_path.read_text().replace(
        "    groups: [support, billing]\n",
        "    groups: [support, billing]\n    timezone: Mars/Olympus\n", 1)
    desk.config_path.write_text(text)
    result = desk.cli("check-config")
    assert result.returncode != 0
    line = text.splitlines().index("    timezone: Mars/Olympus") + 1
    assert f"maildesk.yaml:{line}" in result.stderr.decode() + result.stdout.decode()
