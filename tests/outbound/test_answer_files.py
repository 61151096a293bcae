"""An agent's answer with files reaches the customer with them (issue 16's defect): through
every entrance (a mail reply, the web form in tests/web/test_reply_files.py, the API's
public article), at a real SMTP sink on loopback, byte for byte, to the cc copies too;
file names that cannot break a header; and what happens when the files are too big for one
mail (refused before anything is stored, or a relay's SIZE refusal told to the agents)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import SMTP, default
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from maildesk.intake.filenames import safe_filename
from maildesk.intake.parse import parse_message
from maildesk.outbound.answer_files import AnswerFile, with_files
from maildesk.outbound.render import WIRE, build_message
from maildesk.store.models import Article, OutboxMail
from tests.agents.conftest import agent_desk, new_ticket, notification, reply
from tests.agents.conftest import send as mail_in
from tests.conftest import Desk, server
from tests.outbound.conftest import Received, Sink, free_port, send
from tests.web.conftest import Web, serve_web

# The answer's article, its attachment rows and the outbox rows, on every backend.
pytestmark = pytest.mark.backends

PDF = b"%PDF-1.4\r\n" + bytes(range(256)) * 40 + b"\n%%EOF\r\n"  # every byte value
NOTES = "Grüße aus Köln\r\nzweite Zeile\nohne CR\r".encode() + b"\x00\xff"  # line ends kept
UMLAUT_NAME = "Überweisung März – 日本.txt"


@pytest.fixture
def sdesk(request: pytest.FixtureRequest, tmp_path: Path, backend: str,
          sink: Sink) -> Desk:
    """An agents' desk (its MTA trusted) that relays to the sink."""
    database = None if backend == "sqlite" else server(request, backend).slot(0)
    return agent_desk(tmp_path / "desk", database=database, relay_port=sink.port)


def answers(sink: Sink, address: str) -> list[Received]:
    """What `address` got from a person (the answer), not the auto-response."""
    return [r for r in sink.to(address) if r.message["Auto-Submitted"] is None]


def files_of(message: Message) -> list[tuple[str | None, str, bytes]]:
    """(file name, content type, decoded bytes) of each attachment part."""
    assert isinstance(message, EmailMessage)
    return [(part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
            for part in message.iter_attachments()]


def with_attachments(raw: bytes, files: list[tuple[str, str, bytes]]) -> bytes:
    """The agent's reply as a mail client sends it with files: multipart/mixed."""
    msg = message_from_bytes(raw, policy=default)
    assert isinstance(msg, EmailMessage)
    for name, ctype, data in files:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes(policy=SMTP)


def test_mail_reply_with_two_files_reaches_customer_and_cc_byte_exact(
        sdesk: Desk, sink: Sink) -> None:
    number = new_ticket(sdesk)
    note = notification(sdesk, number)
    raw = with_attachments(
        reply(note, "/cc add dave@example.net\nHello Carol,\nthe report and the notes.\n"),
        [("report.pdf", "application/pdf", PDF), (UMLAUT_NAME, "text/plain", NOTES)])
    assert mail_in(sdesk, raw, note).ticket == number
    send(sdesk)

    (mail,) = answers(sink, "carol@example.org")
    (copy,) = answers(sink, "dave@example.net")
    expected = [("report.pdf", "application/pdf", PDF), (UMLAUT_NAME, "text/plain", NOTES)]
    for received in (mail, copy):
        message = received.message
        assert message.get_content_type() == "multipart/mixed"
        assert files_of(message) == expected
        for part in message.iter_attachments():
            assert part.get_content_disposition() == "attachment"
            assert part["Content-Transfer-Encoding"] == "base64"
        text = message.get_body(("plain",))
        assert text is not None and "the report and the notes." in text.get_content()
        assert "/cc" not in text.get_content()
        assert f"[Ticket#{number}]" in message["Subject"]
    head = mail.data.split(b"\r\n\r\n", 1)[0]
    assert b"filename*0*=utf-8''%C3%9Cberweisung%20M%C3%A4rz" in mail.data  # RFC 2231
    assert b'name="=?utf-8?b?' in mail.data  # RFC 2047 for Outlook
    assert head.isascii() and max(len(line) for line in mail.data.split(b"\r\n")) <= 78
    # Our own intake reads the names and bytes back the same (a copy that comes back).
    parsed = parse_message(mail.data)
    assert [(a.filename, a.data) for a in parsed.attachments] == \
        [("report.pdf", PDF), (UMLAUT_NAME, NOTES)]
    shown = sdesk.show(number)
    (sent,) = [h for h in shown["history"] if h["event"] == "answer sent"]
    assert sent["details"]["files"] == 2 and sent["details"]["cc"] == ["dave@example.net"]


def test_mail_reply_without_files_stays_a_plain_text_mail(sdesk: Desk, sink: Sink) -> None:
    number = new_ticket(sdesk)
    note = notification(sdesk, number)
    mail_in(sdesk, reply(note, "Hello Carol,\nno files today.\n"), note)
    send(sdesk)
    (mail,) = answers(sink, "carol@example.org")
    assert mail.message.get_content_type() == "text/plain"
    assert "no files today." in mail.message.get_content()


def test_files_too_big_for_one_mail_fail_the_mailed_answer_and_the_agent_is_told(
        request: pytest.FixtureRequest, tmp_path: Path, backend: str, sink: Sink) -> None:
    database = None if backend == "sqlite" else server(request, backend).slot(0)
    desk = agent_desk(tmp_path / "desk", database=database, relay_port=sink.port)
    desk.config_path.write_text(desk.config_path.read_text().replace(
        "listen:\n", "listen:\n  max_message_size: 64KiB\n"))
    number = new_ticket(desk)
    note = notification(desk, number)
    raw = with_attachments(reply(note, "/priority 5\nHere is the dump.\n"),
                           [("dump.bin", "application/octet-stream", b"\x01" * 45_000)])
    assert len(raw) < 64 * 1024  # the mail itself was acceptable
    mail_in(desk, raw, note)
    send(desk)
    assert answers(sink, "carol@example.org") == []
    (transcript,) = [r.message for r in sink.to("alice@example.com")
                     if r.message["Subject"].startswith("Processed (with 1 error):")]
    text = transcript.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "listen.max_message_size" in text and "not sent" in text
    shown = desk.show(number)
    assert shown["priority"] != 5  # all or none: the commands did not apply either
    assert shown["articles"][-1]["visibility"] == "internal"
    assert not [h for h in shown["history"] if h["event"] == "answer sent"]


@pytest.fixture
def small_relay() -> Iterator[Sink]:
    """A relay whose SIZE is 20 kB: larger mails get 552 after DATA."""
    relay = Sink(free_port())
    relay.controller = Controller(relay.handler, hostname="127.0.0.1", port=relay.port,
                                  data_size_limit=20_000)
    relay.controller.start()
    yield relay
    relay.stop()


def test_a_relay_refusing_the_size_fails_the_answer_and_tells_the_agents(
        request: pytest.FixtureRequest, tmp_path: Path, backend: str,
        small_relay: Sink) -> None:
    database = None if backend == "sqlite" else server(request, backend).slot(0)
    desk = agent_desk(tmp_path / "desk", database=database, relay_port=small_relay.port)
    number = new_ticket(desk)
    note = notification(desk, number)
    raw = with_attachments(reply(note, "Here is the log.\n"),
                           [("log.txt", "text/plain", b"line\n" * 6000)])
    mail_in(desk, raw, note)
    send(desk)
    assert answers(small_relay, "carol@example.org") == []
    app = desk.app()
    try:
        with app.db.reading() as session:
            (row,) = session.scalars(select(OutboxMail).where(OutboxMail.kind == "answer"))
            assert row.state == "failed" and (row.last_error or "").startswith("552")
    finally:
        app.close()
    send(desk)  # the note about it
    notices = [r.message for r in small_relay.to("alice@example.com")
               if "Undeliverable" in (r.message["Subject"] or "")]
    assert notices and "552" in notices[0].get_content()


HOSTILE = ["../../etc/passwd", "C:\\Windows\\evil.bat", "a\r\nBcc: mallory@example.net.txt",
           "invoice\u202efdp.exe", 'x"; filename="evil.exe', "ü" * 300 + ".pdf",
           "x" * 1000 + ".pdf", "\x00\x1b[31m.txt", "", "message.eml"]


def test_hostile_file_names_stay_parameter_values_in_short_header_lines() -> None:
    message = build_message(from_name="Support", from_addr="support@example.com",
                            to=[("", "carol@example.org")], subject="Re: x", body="Hi\n",
                            message_id="md-1@example.com")
    files = [AnswerFile(name, "message/rfc822" if name.endswith(".eml") else
                        "text/html\r\nX-Evil: 1", f"file {n}".encode())
             for n, name in enumerate(HOSTILE)]
    raw = with_files(message, files).as_bytes(policy=WIRE)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"Bcc" not in head and b"X-Evil" not in raw
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    assert raw.isascii()
    parsed = message_from_bytes(raw, policy=default)
    assert not parsed.defects
    assert [k for k, _ in parsed.items()] == ["From", "To", "Subject", "Date", "Message-ID",
                                              "MIME-Version", "Content-Type"]
    got = files_of(parsed)
    assert [data for _, _, data in got] == [f"file {n}".encode() for n in range(len(HOSTILE))]
    for (name, ctype, _), original in zip(got, HOSTILE, strict=True):
        assert name == safe_filename(original, f"attachment-{HOSTILE.index(original) + 1}")
        assert name and "/" not in name and "\\" not in name and len(name.encode()) <= 255
        assert not any(c in name for c in "\r\n\x00\u202e\x1b")
        assert ctype in ("application/octet-stream", "text/html") or ctype.startswith("text/")
    assert got[-1][1] == "application/octet-stream"  # message/* is never base64 (RFC 2046)
    # Outlook's reading: the Content-Type `name` as RFC 2047 decodes to the same names.
    for part, (name, _, _) in zip(parsed.iter_attachments(), got, strict=True):
        assert part.get_param("name") == name


@pytest.fixture
def aweb(sdesk: Desk) -> Iterator[Web]:
    yield from serve_web(sdesk)


def test_api_public_article_with_a_file_reaches_the_customer(aweb: Web, sink: Sink) -> None:
    token = aweb.desk.cli("token", "create", "crm", "--scope", "write")
    assert token.returncode == 0, token.stderr
    bearer = {"Authorization": "Bearer " + token.stdout.decode().strip().splitlines()[-1]}
    number = aweb.ticket()
    attachment = {"filename": "Angebot Straße.pdf", "content_type": "application/pdf",
                  "content_base64": base64.b64encode(PDF).decode()}
    posted = aweb.client.post(f"/api/v1/tickets/{number}/articles", headers=bearer,
                              json={"body": "Our offer.", "visibility": "public",
                                    "attachments": [attachment]})
    assert posted.status_code == 201, posted.text
    shown = aweb.client.get(f"/api/v1/tickets/{number}", headers=bearer).json()
    (answer,) = [a for a in shown["articles"] if a["id"] == posted.json()["id"]]
    assert [(f["filename"], f["size"]) for f in answer["attachments"]] == \
        [("Angebot Straße.pdf", len(PDF))]
    send(aweb.desk)
    (mail,) = answers(sink, "carol@example.org")
    assert files_of(mail.message) == [("Angebot Straße.pdf", "application/pdf", PDF)]

    note = aweb.client.post(f"/api/v1/tickets/{number}/articles", headers=bearer,
                            json={"body": "the signed copy", "visibility": "internal",
                                  "attachments": [attachment]})
    assert note.status_code == 201, note.text
    send(aweb.desk)
    assert len(answers(sink, "carol@example.org")) == 1  # a note's file stays in the house


@pytest.fixture
def small_web(sdesk: Desk) -> Iterator[Web]:
    """listen.max_message_size of 64 KiB (also the cap on a request body)."""
    sdesk.config_path.write_text(sdesk.config_path.read_text().replace(
        "listen:\n", "listen:\n  max_message_size: 64KiB\n"))
    yield from serve_web(sdesk)


def test_api_refuses_files_too_big_to_mail_with_413(small_web: Web, sink: Sink) -> None:
    aweb = small_web
    token = aweb.desk.cli("token", "create", "crm", "--scope", "write")
    bearer = {"Authorization": "Bearer " + token.stdout.decode().strip().splitlines()[-1]}
    number = aweb.ticket()
    # As JSON the file is under the request cap; as mail (base64 in lines of 76 with CRLF,
    # and the text part) it would be over the same limit.
    content = base64.b64encode(b"\x00" * 48_000).decode()
    body = {"body": "the dump", "visibility": "public",
            "attachments": [{"filename": "dump.bin", "content_base64": content}]}
    posted = aweb.client.post(f"/api/v1/tickets/{number}/articles", headers=bearer, json=body)
    assert posted.status_code == 413, posted.text[:300]
    assert "listen.max_message_size" in posted.text
    note = aweb.client.post(f"/api/v1/tickets/{number}/articles", headers=bearer,
                            json={**body, "visibility": "internal"})
    assert note.status_code == 201, note.text[:300]  # a note is never mailed
    with aweb.app.db.reading() as session:
        assert session.scalars(select(Article).where(Article.kind == "answer")).all() == []
        assert session.scalars(select(OutboxMail).where(OutboxMail.kind == "answer")).all() == []
