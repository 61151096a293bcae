"""Everything outbound is an event with one dispatch table (issue 12.3)."""

from __future__ import annotations

from pathlib import Path

from maildesk.config.http import WEBHOOK_EVENTS
from maildesk.events import AnswerQueued, CommandsProcessed, DeliveryFailed, MailRefused
from maildesk.outbound import timed
from maildesk.outbound.dispatch import HANDLERS
from maildesk.outbound.webhook import queue_webhooks

TEMPLATES = Path(__file__).resolve().parents[2] / "maildesk" / "templates"


def test_every_event_class_with_a_fixed_kind_has_a_row() -> None:
    for event in (AnswerQueued, CommandsProcessed, MailRefused, DeliveryFailed):
        assert HANDLERS[event.kind], event.__name__


def test_timer_notices_and_webhooks_are_rows_of_the_same_table() -> None:
    assert HANDLERS["reminder"] == (timed.to_owner_or_queue,)
    assert HANDLERS["escalation"] == HANDLERS["unlocked"] == (timed.to_queue,)
    for name in WEBHOOK_EVENTS:
        assert HANDLERS[name] == (queue_webhooks,)


def test_timer_notices_have_their_template_in_every_language() -> None:
    for language in ("en", "es", "de"):
        for kind in ("reminder", "escalation", "unlocked", "command_result", "refusal"):
            assert (TEMPLATES / language / "agent" / f"{kind}.txt").is_file(), (language, kind)
