"""Outbound mail stored as what to send and rendered by the sender (issue 20): the row the
ingest wrote holds a spec and no bytes; the sender renders it, sends it and keeps the bytes;
a template that fails only when rendered costs an attempt of that row, never the row."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from maildesk.store.models import OutboxMail
from tests.conftest import Desk, simple_mail
from tests.outbound.conftest import Sink, send


def _rows(desk: Desk) -> list[OutboxMail]:
    app = desk.app()
    try:
        with app.db.transaction() as s:
            return list(s.execute(select(OutboxMail).order_by(OutboxMail.id)).scalars())
    finally:
        app.close()


def _history(desk: Desk, number: str) -> list[str]:
    return [h["event"] for h in desk.show(number)["history"]]


def test_the_ingest_queues_what_to_send_and_the_sender_keeps_what_it_sent(
        odesk: Desk, sink: Sink) -> None:
    number = odesk.ingest(simple_mail(message_id="spec-1@example.org")).ticket
    queued = _rows(odesk)
    assert {r.kind for r in queued} == {"autoreply", "notification"}
    assert all(r.raw == b"" and json.loads(r.spec_json or "")["template"] for r in queued)
    assert send(odesk) == len(queued)
    sent = {r.id: r for r in _rows(odesk)}
    for got in sink.received:
        [row] = [r for r in sent.values() if r.to_addr == got.rcpt_tos[0]]
        assert row.state == "sent" and row.raw == got.data  # the bytes kept are those sent
        assert got.message["Message-ID"].strip() == f"<{row.message_id}>"
        assert f"[Ticket#{number}]" in got.message["Subject"]


@pytest.mark.outbound_failure
def test_a_template_failing_at_render_costs_an_attempt_not_the_row(
        odesk_factory, sink: Sink) -> None:  # noqa: ANN001
    desk = odesk_factory(sink.port, extra="templates: ./brand\n",
                         outbound="  retry_first: 0s\n")
    folder = desk.root / "brand" / "en" / "customer"
    folder.mkdir(parents=True)
    template = folder / "autoresponse_new.txt"
    template.write_text("{{ 1 // 0 }}\n")  # compiles; fails only when rendered
    outcome = desk.ingest(simple_mail())
    assert outcome.code == 250 and outcome.ticket
    assert "auto-response sent" in _history(desk, outcome.ticket)  # queued, decided
    send(desk)
    [auto] = [r for r in _rows(desk) if r.kind == "autoreply"]
    assert auto.state == "queued" and auto.raw == b"" and auto.attempts >= 1
    assert (auto.last_error or "").startswith("not built: ZeroDivisionError")
    assert "auto-response failed" in _history(desk, outcome.ticket)
    assert [r.rcpt_tos for r in sink.received if "carol" in r.rcpt_tos[0]] == []
    rows = json.loads(desk.cli("outbox", "--json", "--state", "queued").stdout)
    assert [r["last_error"][:10] for r in rows if r["kind"] == "autoreply"] == ["not built:"]
    template.write_text("Fixed for {{ tag }}\n")  # the admin repairs it: the row goes out
    send(desk)
    [auto] = [r for r in _rows(desk) if r.kind == "autoreply"]
    assert auto.state == "sent"
    [got] = [r for r in sink.received if r.rcpt_tos == ["carol@example.org"]]
    assert got.message.get_content().strip() == f"Fixed for [Ticket#{outcome.ticket}]"


def test_a_spec_is_written_as_asdict_wrote_it_and_read_back_whole() -> None:
    from dataclasses import asdict

    from maildesk.outbound.deferred import Spec

    spec = Spec(template="agent/notification_new.txt", language="de",
                context={"ticket": {"number": "1", "tags": ["a", "b"]}, "n": 1.5, "x": None},
                from_name="Carol via Support", from_addr="support@example.com",
                to=[("Alice", "alice@example.com")], subject="[Ticket#1] Grüße",
                extra={"Auto-Submitted": "auto-generated"}, reply_to="support+t@example.com",
                in_reply_to="p@example.org", references=["a@x", "b@y"], quote=7,
                commands=True)
    assert spec.dumps() == json.dumps(asdict(spec), separators=(",", ":"))
    assert Spec.loads(spec.dumps()) == spec


def _cut_quote_before(body: str) -> tuple[str, dict[str, int] | None]:
    """cut_quote as it was before issue 20 measured what is left out without copies."""
    from maildesk.outbound.deferred import QUOTE_CHARS, QUOTE_LINES

    cut = len(body)
    at = -1
    for _ in range(QUOTE_LINES):
        at = body.find("\n", at + 1, QUOTE_CHARS + 1)
        if at < 0:
            break
    else:
        cut = at + 1
    if cut > QUOTE_CHARS:
        end = body.rfind("\n", 0, QUOTE_CHARS)
        cut = end + 1 if end + 1 >= QUOTE_CHARS // 2 else QUOTE_CHARS
    rest = body[cut:]
    if not rest.strip():
        return body, None
    text = body[:cut] + ("" if body[:cut].endswith("\n") else "\n") + "[...]\n"
    lines = rest.count("\n") + (not rest.endswith("\n"))
    return text, {"lines": lines, "kb": -(-len(rest.encode("utf-8", "replace")) // 1024)}


def test_cut_quote_is_what_it_was() -> None:
    import random

    from maildesk.outbound.deferred import cut_quote

    rng = random.Random(20)
    pieces = ["word ", "\n", "\n\n", " ", "\t", "\u2028", "\x0b", "\u3000", "ä", "日本",
              "\ud800", "x" * 300, "\r\n", "> quoted line\n"]
    cases = ["", "\n", " \n\t", "a" * 9000, "a\n" * 150, "a\n" * 100 + " \u3000\u2028\n",
             "a\n" * 100 + "\ud800", "ä" * 9000]
    for _ in range(3000):
        cases.append("".join(rng.choice(pieces) for _ in range(rng.randint(0, 800))))
    for body in cases:
        assert cut_quote(body) == _cut_quote_before(body), body[:40]
