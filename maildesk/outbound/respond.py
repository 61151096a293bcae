"""Turn ticket events into outbox rows (auto-responses, notifications).

First version: no outbound mail yet; the outbound work fills this in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from maildesk.events import TicketEvent

if TYPE_CHECKING:
    from maildesk.app import App

__all__ = ["respond"]


def respond(session: Session, app: App, events: list[TicketEvent]) -> None:
    return None
