"""A customer backend behind a cache, a wait bound and a breaker, so a CRM never holds mail.

- Answers (a record, and "no such customer" too) are kept `cache_ttl` seconds, at most
  `cache_size` addresses (least recently used dropped): a warm cache asks nothing.
- A miss is looked up on this backend's own small thread pool; the caller waits at most
  `timeout`, then the customer is "unknown for now" (BackendDown) while the lookup goes on
  and fills the cache for the next mail. Concurrent misses for one address share a lookup.
- Waiting is budgeted: callers spend at most WAIT_SHARE of the wall clock waiting on one
  backend (a leaky bucket of waited seconds, WAIT_BURST deep), so cold lookups against a
  slow CRM cost ingest less than half its rate; past the budget a miss is "unknown for now"
  at once, and its lookup still runs and fills the cache.
- A failure opens the breaker for `retry_after` seconds: lookups answer BackendDown at once
  instead of waiting on a dead CRM for every mail.
- An outage is logged once: its first failure at WARNING, the repeats at DEBUG (a WARNING
  per mail flooded the log while a CRM was down), and its end at INFO with the number of
  failures; every failure is counted, and `LookupCollector` exposes the counts on /metrics.
- Blocking by design: calling it on a thread running an event loop is a bug and refused.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from maildesk.customers.record import Backend, BackendDown, CustomerRecord, usable_address

__all__ = ["CachedBackend", "LookupCollector", "TTLCache", "lookup_counts", "usable_address"]

log = logging.getLogger("maildesk.customers")

MAX_PENDING = 256  # misses queued on one backend before further ones are "unknown for now"
WORKERS = 4  # lookups of one backend running at once
WAIT_SHARE = 0.3  # of the wall clock callers may spend waiting on one backend ...
WAIT_BURST = 0.5  # ... beyond this many seconds at once (the bucket's depth)

_MISS = object()
_counts: dict[tuple[str, str], int] = {}
_counts_lock = threading.Lock()


def _count(backend: str, result: str) -> None:
    with _counts_lock:
        _counts[(backend, result)] = _counts.get((backend, result), 0) + 1


def lookup_counts() -> dict[tuple[str, str], int]:
    """(backend, result) -> lookups since the process started; results: hit, found,
    not_found, down (the backend failed), slow (no answer in time), skipped (breaker open
    or too many pending)."""
    with _counts_lock:
        return dict(_counts)


class LookupCollector(Collector):
    """`maildesk_customer_lookups_total{backend, result}` for a metrics registry."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "maildesk_customer_lookups",
            "Customer directory lookups (SQL, LDAP), by backend and result",
            labels=["backend", "result"],
        )
        for (backend, result), value in sorted(lookup_counts().items()):
            family.add_metric([backend, result], value)
        yield family


class TTLCache:
    """address -> record or None, each kept `ttl` seconds, at most `size` entries."""

    def __init__(
        self, ttl: float, size: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl, self.size, self.clock = ttl, size, clock
        self._entries: OrderedDict[str, tuple[float, CustomerRecord | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, address: str) -> object:
        """The cached answer (a record or None), or `_MISS`."""
        with self._lock:
            entry = self._entries.get(address)
            if entry is None:
                return _MISS
            if entry[0] <= self.clock():
                del self._entries[address]
                return _MISS
            self._entries.move_to_end(address)
            return entry[1]

    def put(self, address: str, record: CustomerRecord | None) -> None:
        with self._lock:
            self._entries[address] = (self.clock() + self.ttl, record)
            self._entries.move_to_end(address)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class CachedBackend:
    """A Backend itself: what `backends_from_config` hands out."""

    def __init__(
        self,
        backend: Backend,
        *,
        ttl: float = 300.0,
        size: int = 10000,
        timeout: float = 2.0,
        retry_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.name = backend.name
        self.cache = TTLCache(ttl, size, clock)
        self.timeout, self.retry_after, self.clock = timeout, retry_after, clock
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix=f"customers-{self.name}")
        self._pending: dict[str, Future[CustomerRecord | None]] = {}
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._down_reason = ""
        self._failures = 0  # in the outage going on (0: the backend answers)
        self._waited = 0.0  # the bucket: seconds waited, leaking WAIT_SHARE per second
        self._waited_at = clock()

    def lookup(self, address: str) -> CustomerRecord | None:
        _refuse_event_loop()
        usable = usable_address(address)
        if usable is None:
            return None
        address = usable
        cached = self.cache.get(address)
        if cached is not _MISS:
            _count(self.name, "hit")
            return cached  # type: ignore[return-value]
        with self._lock:
            future = self._pending.get(address)
            if future is None:
                if self.clock() < self._down_until:
                    _count(self.name, "skipped")
                    raise BackendDown(f"{self.name}: {self._down_reason} (retrying later)")
                if len(self._pending) >= MAX_PENDING:
                    _count(self.name, "skipped")
                    raise BackendDown(f"{self.name}: {MAX_PENDING} lookups already waiting")
                future = self._pool.submit(self._fetch, address)
                self._pending[address] = future
        allowed = self._allowance()
        started = self.clock()
        try:
            return future.result(timeout=allowed)
        except FutureTimeout:
            _count(self.name, "slow")
            raise BackendDown(f"{self.name}: no answer within {allowed:.2g}s") from None
        finally:
            with self._lock:
                self._waited += max(0.0, self.clock() - started)

    def _allowance(self) -> float:
        """How long this caller may wait: `timeout`, at most what the bucket has room for."""
        with self._lock:
            now = self.clock()
            leaked = (now - self._waited_at) * WAIT_SHARE
            self._waited, self._waited_at = max(0.0, self._waited - leaked), now
            return max(0.0, min(self.timeout, WAIT_BURST - self._waited))

    def _fetch(self, address: str) -> CustomerRecord | None:
        try:
            record = self.backend.lookup(address)
        except Exception as exc:  # a CRM's failure, whatever its kind, must not hold mail
            self._failed(exc)
            raise exc if isinstance(exc, BackendDown) else BackendDown(str(exc)) from exc
        else:
            self.cache.put(address, record)
            _count(self.name, "found" if record is not None else "not_found")
            self._recovered()
            return record
        finally:
            with self._lock:
                self._pending.pop(address, None)

    def _failed(self, exc: Exception) -> None:
        _count(self.name, "down")
        reason = str(exc) or type(exc).__name__
        with self._lock:
            self._down_until = self.clock() + self.retry_after
            self._down_reason = reason
            self._failures += 1
            first = self._failures == 1
        log.log(
            logging.WARNING if first else logging.DEBUG,
            "customer backend %s is down: %s; its customers are unknown for now, mail is "
            "still accepted; next try in %gs%s",
            self.name, reason, self.retry_after,
            "" if first else f" (failure {self._failures} of this outage)",
        )

    def _recovered(self) -> None:
        with self._lock:
            failures, self._failures = self._failures, 0
        if failures:
            log.info("customer backend %s answers again (after %d failed lookups)",
                     self.name, failures)

    def close(self) -> None:
        """Stop the pool; lookups still running finish on their own (bounded by timeouts)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()


def _refuse_event_loop() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError("a customer lookup blocks: run it on a worker thread, not the event loop")
