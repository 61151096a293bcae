"""A directory's outage in the log: its first failure at WARNING, the repeats at DEBUG
(a WARNING per mail flooded the log), its end at INFO; the metric counts every failure."""

from __future__ import annotations

import logging

import pytest

from maildesk.customers.cache import CachedBackend, lookup_counts
from maildesk.customers.record import BackendDown, CustomerRecord


class Flaky:
    """A Backend that is down while `down` is true (connection refused, say)."""

    def __init__(self) -> None:
        self.name = f"flaky{id(self)}"
        self.down = True

    def lookup(self, address: str) -> CustomerRecord | None:
        if self.down:
            raise ConnectionRefusedError("connection refused")
        return CustomerRecord(address=address, source="sql")


def _fail(cached: CachedBackend, address: str) -> None:
    with pytest.raises(BackendDown):
        cached.lookup(address)


def test_outage_warned_once_then_debug_until_it_recovers(
        caplog: pytest.LogCaptureFixture) -> None:
    inner = Flaky()
    now = [0.0]
    cached = CachedBackend(inner, retry_after=0, timeout=5, clock=lambda: now[0])
    try:
        with caplog.at_level(logging.DEBUG, logger="maildesk.customers"):
            for i in range(5):  # five mails while the CRM is down
                now[0] += 1
                _fail(cached, f"c{i}@example.org")
            inner.down = False
            now[0] += 1
            assert cached.lookup("back@example.org") is not None
            inner.down = True
            now[0] += 1
            _fail(cached, "again@example.org")  # a new outage: warned again
        mine = [r for r in caplog.records if inner.name in r.getMessage()]
        assert [r.levelname for r in mine] == [
            "WARNING", "DEBUG", "DEBUG", "DEBUG", "DEBUG", "INFO", "WARNING"]
        assert "after 5 failed lookups" in mine[5].getMessage()
        assert lookup_counts()[(inner.name, "down")] == 6  # every failure counted
    finally:
        cached.close()
