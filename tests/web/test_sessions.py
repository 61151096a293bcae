"""Sessions end after `web.session_idle` without a request, besides their 12-hour lifetime;
a session in use stays; signing out everywhere still ends them all (over real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from maildesk.store.models import WebSession, utcnow
from tests.conftest import Desk
from tests.web.conftest import Web, serve_web


@pytest.fixture
def web10(desk: Desk) -> Iterator[Web]:
    """The web with `web.session_idle: 10m`."""
    desk.config_path.write_text(desk.config_path.read_text() + "web:\n  session_idle: 10m\n")
    yield from serve_web(desk)


def _age(web: Web, address: str, *, seen: timedelta = timedelta(),
         created: timedelta = timedelta()) -> None:
    """Make the person's sessions look last used `seen` ago (and made `created` ago)."""
    now = utcnow()
    with web.app.db.transaction() as session:
        session.execute(update(WebSession).where(WebSession.address == address).values(
            last_seen_at=now - seen, expires_at=now - created + timedelta(hours=12)))


def _rows(web: Web, address: str) -> int:
    with web.app.db.reading() as session:
        return len(session.execute(select(WebSession.id).where(
            WebSession.address == address)).all())


@pytest.mark.parametrize(("seen", "created", "signed_in"), [
    (timedelta(minutes=9), timedelta(hours=11), True),  # used lately, inside its lifetime
    (timedelta(minutes=11), timedelta(hours=1), False),  # idle past web.session_idle
    (timedelta(minutes=1), timedelta(hours=12, minutes=1), False),  # past the 12 hours
])
def test_idle_and_lifetime(web10: Web, seen: timedelta, created: timedelta,
                           signed_in: bool) -> None:
    alice = web10.sign_in("alice@example.com")
    assert alice.get("/").status_code == 200
    _age(web10, "alice@example.com", seen=seen, created=created)
    page = alice.get("/")
    assert page.status_code == (200 if signed_in else 303)
    if not signed_in:
        assert page.headers["location"].startswith("/login")
        assert alice.get("/").status_code == 303  # and it stays ended


def test_an_idle_session_is_deleted_and_use_keeps_one_alive(web10: Web) -> None:
    alice = web10.sign_in("alice@example.com")
    _age(web10, "alice@example.com", seen=timedelta(minutes=11))
    assert alice.get("/").status_code == 303
    assert _rows(web10, "alice@example.com") == 0
    alice = web10.sign_in("alice@example.com")
    for minutes in (8, 8, 8):  # used every 8 minutes: past 10 in all, never idle 10
        _age(web10, "alice@example.com", seen=timedelta(minutes=minutes))
        assert alice.get("/").status_code == 200


def test_default_idle_is_an_hour_and_sign_out_everywhere_still_works(web: Web) -> None:
    assert web.app.config.web.session_idle == 3600
    web.sign_in("alice@example.com")
    other = web.sign_in("alice@example.com", client=web.browser())
    _age(web, "alice@example.com", seen=timedelta(minutes=50))
    assert other.get("/").status_code == 200
    csrf = web.csrf(path="/")
    web.client.post("/logout", data={"csrf": csrf, "everywhere": "1"})
    assert other.get("/").status_code == 303
    assert _rows(web, "alice@example.com") == 0
