"""core.tickets._envelope_json (issue 20: an encoder made once) writes the very text of
`json.dumps(dataclasses.asdict(envelope))`, the articles' envelope_json column."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from maildesk.core.tickets import _envelope_json
from maildesk.intake.message import Envelope


@pytest.mark.parametrize("envelope", [
    Envelope(),
    Envelope("alice@example.com", ("support@example.com",), "127.0.0.1", "mx.example"),
    Envelope("", ("a@example.com", "b@example.com"), "::1", ""),
    Envelope('quo"te\\@x', ("jürgen@bücher.example", "日本@例え.jp"), "peer\n", "hé\x00lo"),
    Envelope("\ud800@x", ("\u2028",), "\x7f", "🙂"),
])
def test_the_text_json_dumps_wrote(envelope: Envelope) -> None:
    assert _envelope_json(envelope) == json.dumps(asdict(envelope))
