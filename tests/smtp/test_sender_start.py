"""issue 11: a packaging error in the sender must stop the daemon, not leave mail queued."""

from __future__ import annotations

import asyncio
import sys

import pytest

from maildesk import daemon


def test_a_missing_sender_module_is_an_error_not_a_silently_idle_outbox(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "maildesk.outbound.sender", None)  # as if not installed

    async def start() -> object:
        return daemon._start_sender(None, asyncio.Event())  # type: ignore[arg-type]

    with pytest.raises(ModuleNotFoundError):
        asyncio.run(start())
