"""Cheaper outbound mail (issue 20): a mail's outbox rows in one INSERT with its history
as before, a notification's body rendered once for every agent who reads the same text,
a bounded quote of a big mail, and nothing rendered while the relay is down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event, select

from maildesk.outbound.deferred import QUOTE_CHARS, QUOTE_LINES, cut_quote
from maildesk.outbound.render import Texts, render_shared
from maildesk.store.models import History, MessageIdRow, OutboxMail
from tests.conftest import Desk, desks_of, make_desk, simple_mail
from tests.outbound.conftest import Sink, free_port, outbound_desk, send

AGENTS = """\
  - address: dan@example.com
    name: Dan Example
    groups: [support]
  - address: erik@example.com
    name: Erik Beispiel
    groups: [support]
    language: de
"""


def _more_agents(desk: Desk, extra: str = "") -> Desk:
    text = desk.config_path.read_text()
    anchor = "    groups: [billing]\nrules:\n"
    assert anchor in text
    desk.config_path.write_text(text.replace(anchor, "    groups: [billing]\n" + AGENTS
                                             + "rules:\n", 1) + extra)
    return desk


@pytest.fixture
def team(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Desk:
    """A desk on each backend whose Support queue has three agents (one German)."""
    return _more_agents(desks_of(make_desk, request, tmp_path, backend)())


@contextmanager
def statements(desk_app: object) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(" ".join(statement.split()))

    engine = desk_app.db.engine  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def _outbox_inserts(seen: list[str]) -> list[str]:
    return [s for s in seen if s.upper().startswith("INSERT INTO OUTBOX ")]


def test_a_mails_outbox_rows_are_one_insert_and_its_history_reads_as_before(
        team: Desk) -> None:
    app = team.app()
    try:
        app.ingest(simple_mail(message_id="warm@example.org"), _envelope())  # warm-up
        with statements(app) as seen:
            outcome = app.ingest(simple_mail(message_id="one@example.org"), _envelope())
        assert len(_outbox_inserts(seen)) == 1, _outbox_inserts(seen)
        with app.db.transaction() as s:
            ticket_id = s.execute(select(OutboxMail.ticket_id).where(
                OutboxMail.kind == "autoreply").order_by(OutboxMail.id.desc())).scalar()
            rows = list(s.execute(select(OutboxMail).where(OutboxMail.ticket_id == ticket_id)
                                  .order_by(OutboxMail.id)).scalars())
            history = [json.loads(h.details_json) | {"event": h.event} for h in s.execute(
                select(History).where(History.ticket_id == ticket_id)
                .order_by(History.id)).scalars()]
            index = {m.message_id: m.outbox_id for m in s.execute(
                select(MessageIdRow).where(MessageIdRow.ticket_id == ticket_id,
                                           MessageIdRow.direction == "out")).scalars()}
    finally:
        app.close()
    assert outcome.code == 250
    assert [(r.kind, r.to_addr) for r in rows] == [
        ("autoreply", "carol@example.org"), ("notification", "alice@example.com"),
        ("notification", "dan@example.com"), ("notification", "erik@example.com")]
    sent = [h for h in history if h["event"] in ("auto-response sent", "notification sent")]
    # in the order queued, each naming its own row, and each row's Message-ID indexed
    assert [(h["event"], h["to"], h["outbox"]) for h in sent] == [
        ("auto-response sent" if r.kind == "autoreply" else "notification sent",
         r.to_addr, r.id) for r in rows]
    assert all(h["message_id"] == r.message_id for h, r in zip(sent, rows, strict=True))
    assert index == {r.message_id: r.id for r in rows}
    assert [r.spec_json and json.loads(r.spec_json)["language"] for r in rows] == \
        ["en", "en", "en", "de"]


@pytest.mark.outbound_failure
def test_a_broken_notification_keeps_its_place_among_the_rows(team: Desk) -> None:
    text = team.config_path.read_text()
    team.config_path.write_text(text + "templates: ./brand\n")
    folder = team.root / "brand" / "de" / "agent"
    folder.mkdir(parents=True)
    (folder / "notification_new.txt").write_text("{% if %}broken\n")  # Erik's only
    outcome = team.ingest(simple_mail())
    assert outcome.code == 250
    app = team.app()
    try:
        with app.db.transaction() as s:
            rows = [(r.id, r.to_addr, r.state) for r in s.execute(
                select(OutboxMail).order_by(OutboxMail.id)).scalars()]
            history = [(h.event, json.loads(h.details_json).get("outbox")) for h in s.execute(
                select(History).order_by(History.id)).scalars()
                if h.event.endswith(("sent", "failed"))]
    finally:
        app.close()
    assert [(to, state) for _, to, state in rows] == [
        ("carol@example.org", "queued"), ("alice@example.com", "queued"),
        ("dan@example.com", "queued"), ("erik@example.com", "failed")]
    assert history == [("auto-response sent", rows[0][0]), ("notification sent", rows[1][0]),
                       ("notification sent", rows[2][0]), ("notification failed", rows[3][0])]


def _envelope():  # noqa: ANN202
    from maildesk.intake.message import Envelope

    return Envelope(sender="carol@example.org", recipients=("support@example.com",))


# --------------------------------------------------------------------------- render once


def test_agents_reading_the_same_text_share_one_render(tmp_path: Path) -> None:
    desk = _more_agents(make_desk(tmp_path / "d"))
    config = desk.config
    texts = Texts()
    base = {"ticket": {"number": "1"}, "body": "Hello", "commands": []}
    anna = {**base, "agent": {"name": "Anna"}, "reply_to": "support+a@example.com"}
    ben = {**base, "agent": {"name": "Ben"}, "reply_to": "support+b@example.com"}
    first = render_shared(config, "agent/notification_new.txt", "en", anna, texts)
    assert render_shared(config, "agent/notification_new.txt", "en", ben, texts) == first
    assert texts.reused == 1
    other = {**ben, "body": "Bye"}
    assert "Bye" in render_shared(config, "agent/notification_new.txt", "en", other, texts)
    assert texts.reused == 1
    german = render_shared(config, "agent/notification_new.txt", "de", ben, texts)
    assert german != first and texts.reused == 1


def test_a_template_that_reads_the_agent_renders_per_agent(tmp_path: Path) -> None:
    desk = make_desk(tmp_path / "d", extra="templates: ./brand\n")
    folder = desk.root / "brand" / "en" / "agent"
    folder.mkdir(parents=True)
    # the agent is read only by what the template includes, and only on one branch
    (folder / "notification_new.txt").write_text(
        "{{ body }}\n{% if ticket.number %}{% include 'en/agent/_hello.txt' %}{% endif %}\n")
    (folder / "_hello.txt").write_text("for {{ agent.name }} ({{ n }})")
    config = desk.config
    texts = Texts()
    made = [render_shared(config, "agent/notification_new.txt", "en",
                          {"ticket": {"number": "1"}, "body": "x", "agent": {"name": name},
                           "n": n}, texts)
            for name, n in (("Anna", 1), ("Ben", 1), ("Ben", 1), ("Ben", True), ("Ben", 1.0))]
    assert made == ["x\nfor Anna (1)", "x\nfor Ben (1)", "x\nfor Ben (1)",
                    "x\nfor Ben (True)", "x\nfor Ben (1.0)"]
    assert texts.reused == 1


def test_every_agent_gets_the_shared_text_with_headers_of_their_own(
        tmp_path: Path, sink: Sink) -> None:
    desk = _more_agents(outbound_desk(tmp_path / "d", sink.port))
    desk.ingest(simple_mail(body="The printer is on fire.\n"))
    assert send(desk) == 4
    got = {r.rcpt_tos[0]: r.message for r in sink.received}
    notes = [got[a] for a in ("alice@example.com", "dan@example.com", "erik@example.com")]
    assert len({n["Message-ID"] for n in notes}) == len({n["Reply-To"] for n in notes}) == 3
    assert [n["To"].addresses[0].addr_spec for n in notes] == [
        "alice@example.com", "dan@example.com", "erik@example.com"]
    bodies = [n.get_content() for n in notes]
    assert bodies[0] == bodies[1] != bodies[2]
    assert "The printer is on fire." in bodies[0] and "Neues Ticket" in bodies[2]


# --------------------------------------------------------------------------- bounded quote


@pytest.mark.parametrize("body", ["", "one line", "a\n" * QUOTE_LINES,
                                  "x" * QUOTE_CHARS, "a\n" * QUOTE_LINES + "  \n\n"])
def test_a_short_text_is_quoted_whole(body: str) -> None:
    assert cut_quote(body) == (body, None)


def test_a_long_text_is_quoted_by_its_first_lines() -> None:
    body = "".join(f"line {n}\n" for n in range(1, 501))
    text, more = cut_quote(body)
    assert text.splitlines()[:QUOTE_LINES] == [f"line {n}" for n in range(1, 101)]
    assert text.endswith("line 100\n[...]\n")
    assert more == {"lines": 400, "kb": 4}


def test_a_wide_text_is_cut_at_a_line_end_before_the_size() -> None:
    body = ("ü" * 99 + "\n") * 400  # 100 characters a line: 8 KiB before 100 lines
    text, more = cut_quote(body)
    assert text.endswith("\n[...]\n") and len(text) <= QUOTE_CHARS + 6
    kept = text.count("\n") - 1
    assert kept == QUOTE_CHARS // 100 and more is not None and more["lines"] == 400 - kept
    one_line, more = cut_quote("y" * 100_000)  # no line end at all: cut inside it
    assert one_line == "y" * QUOTE_CHARS + "\n[...]\n" and more == {"lines": 1, "kb": 90}


def test_a_big_mail_is_quoted_bounded_with_where_the_rest_is(tmp_path: Path,
                                                            sink: Sink) -> None:
    desk = outbound_desk(tmp_path / "d", sink.port,
                         extra="web: {base_url: 'https://desk.example/'}\n")
    body = "".join(f"Zeile {n}: der Drucker brennt = immer noch\n" for n in range(1, 2501))
    number = desk.ingest(simple_mail(body=body)).ticket
    assert send(desk) == 2
    [note] = [r for r in sink.received if r.rcpt_tos == ["alice@example.com"]]
    text = note.message.get_content()
    assert "Zeile 100: der Drucker" in text and "Zeile 101:" not in text
    rest = "".join(f"Zeile {n}: der Drucker brennt = immer noch\n" for n in range(101, 2501))
    kb = -(-len(rest.encode()) // 1024)
    assert (f"(2400 more lines, {kb} KB: the whole message is in ticket {number}, "
            f"https://desk.example/tickets/{number})") in text
    assert len(note.data) < 12_000  # not the ~150 KB of the whole text, quoted-printable
    assert body in desk.show(number)["articles"][0]["body"]  # the ticket keeps it all


# --------------------------------------------------------------------------- relay down


def test_nothing_is_rendered_while_the_relay_is_down(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from maildesk.outbound import deferred

    desk = outbound_desk(tmp_path / "d", free_port(), outbound="  retry_first: 0s\n")
    desk.ingest(simple_mail())
    calls: list[int] = []
    real = deferred.render_claimed
    monkeypatch.setattr(deferred, "render_claimed",
                        lambda *a: calls.append(1) or real(*a))  # type: ignore[func-returns-value]
    assert send(desk) == 0
    app = desk.app()
    try:
        with app.db.transaction() as s:
            rows = list(s.execute(select(OutboxMail)).scalars())
    finally:
        app.close()
    assert calls == []
    assert len(rows) == 2 and all(r.state == "queued" and r.raw == b"" for r in rows)
    assert all((r.last_error or "").startswith("relay 127.0.0.1") for r in rows)


def test_the_ticket_keys_text_digest_is_the_words_whatever_the_spacing() -> None:
    """hygiene.text_digest (one auto-response per ticket, hour and text) is the sha256 of
    `" ".join(text.split()).lower()`, for every kind of whitespace, case and script."""
    import hashlib
    import random

    from maildesk.outbound.hygiene import text_digest

    def plain(text: str) -> str:
        return hashlib.sha256(" ".join(text.split()).lower().encode()).hexdigest()

    spaces = [chr(c) for c in range(0x3001) if chr(c).isspace()]
    alphabet = [*"abXYZ ΣσςİıßﬁÄé.,\x00\x1b’—\u200b\u2030\u205e", "  ", "\r\n", *spaces]
    rng = random.Random(20)
    texts = ["", " ", "Hello,\n\n  the printer\tis ON FIRE.\r\n", "ΟΔΟΣ ΟΔΟΣ\nΣ"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
              for _ in range(5000)]
    texts += [f"a{chr(c)}b" for c in range(0x3001) if not 0xD800 <= c < 0xE000]
    for text in texts:
        assert text_digest(text) == plain(text), repr(text)
    assert text_digest("Printer  on\nfire") == text_digest("printer on fire")
    assert text_digest("printer on fire") != text_digest("printer onfire")
