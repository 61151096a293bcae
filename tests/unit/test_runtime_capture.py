"""Each unit of work captures the runtime once (issue 12): a reload while it runs is seen
by the next one, never half-way through. Fakes only: a runtime is any object here."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from maildesk.http.context import HttpContext, context


class Swapping:
    """An App whose runtime a reload swaps; counts how often work asks for it."""

    def __init__(self, runtime: object) -> None:
        self._runtime = runtime
        self.asked = 0

    @property
    def runtime(self) -> Any:
        self.asked += 1
        return self._runtime

    def reload(self, runtime: object) -> None:
        self._runtime = runtime


def _request(shared: HttpContext) -> Any:
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(ctx=shared)))


def test_a_request_keeps_the_runtime_it_started_with() -> None:
    old, new = object(), object()
    app = Swapping(old)
    shared = HttpContext(cast(Any, app), cast(Any, None), cast(Any, None), cast(Any, None))
    first = context(_request(shared))
    app.reload(new)
    assert first.rt is old  # the request in flight
    assert context(_request(shared)).rt is new  # the next request
    assert first.touched is shared.touched  # process state stays shared


def test_a_webhook_pass_asks_for_the_runtime_once() -> None:
    from maildesk.webhooks.pump import pump

    app = Swapping(SimpleNamespace(config=SimpleNamespace(webhooks=())))
    assert pump(cast(Any, app)) == 0
    assert app.asked == 1

