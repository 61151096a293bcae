"""The per-mail log line carries the Message-ID and the queue (SPEC 10, issue 11)."""

from __future__ import annotations

import pytest

from tests.conftest import Desk, simple_mail


def _line(caplog: pytest.LogCaptureFixture) -> str:
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("mail ")]
    assert len(lines) == 1, lines
    return lines[0]


def test_the_mail_line_names_message_id_and_queue(desk: Desk,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", "maildesk.ingest")
    outcome = desk.ingest(simple_mail(message_id="abc.123@example.org"))
    line = _line(caplog)
    assert f"ticket={outcome.ticket} queue=Support msgid=<abc.123@example.org>" in line
    caplog.clear()
    desk.ingest(simple_mail(message_id="abc.123@example.org"))  # a duplicate, same ticket
    assert "result=duplicate" in _line(caplog) and "queue=Support" in _line(caplog)


def test_a_hostile_message_id_cannot_forge_fields(desk: Desk,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", "maildesk.ingest")
    # refused before parsing: the Message-ID comes from the raw header block as it is
    desk.ingest(simple_mail(message_id="x result=rejected\x1b[2J@example.org"),
                recipients=("x@elsewhere.example",))
    line = _line(caplog)
    assert "msgid=<x?result=rejected?[2J@example.org>" in line
    assert line.count("result=") == 2  # the real one and the neutered one inside msgid


def test_a_refused_mail_still_names_its_message_id(desk: Desk,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", "maildesk.ingest")
    desk.ingest(simple_mail(message_id="nobody@example.org"), recipients=("x@elsewhere.example",))
    line = _line(caplog)
    assert "result=unknown_recipient" in line and "msgid=<nobody@example.org>" in line
    assert "queue=-" in line
