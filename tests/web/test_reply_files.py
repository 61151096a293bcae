"""The agent's reply form: files attached to an answer or a note (multipart, through the
core as an agent's mail is: the article carries them, all or none with the commands), the
request size limit (413), and the knowledge base entries the form offers (/faq NAME)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from maildesk.kb.library import EXAMPLE
from maildesk.store.models import Article, AttachmentRow, OutboxMail
from tests.conftest import Desk
from tests.outbound.conftest import Sink
from tests.web.conftest import Web, serve_web

# The engine's savepoint around the article with its files, on every backend.
pytestmark = pytest.mark.backends

FILES = [("files", ("report.pdf", b"%PDF-1.4 report", "application/pdf")),
         ("files", ("../../etc/notes.txt", b"plain notes", "text/plain"))]


def _act(web: Web, client: httpx.Client, number: str, files: list | None = None,  # type: ignore[type-arg]
         **data: str) -> httpx.Response:
    csrf = web.csrf(client, f"/tickets/{number}")
    return client.post(f"/tickets/{number}/act", data={"csrf": csrf, **data},
                       files=files or [("files", ("", b"", "application/octet-stream"))])


def _articles(web: Web, kind: str) -> list[tuple[str, list[tuple[str, str, int]]]]:
    with web.app.db.reading() as session:
        out = []
        for article in session.scalars(select(Article).where(Article.kind == kind)):
            files = session.execute(select(AttachmentRow.filename, AttachmentRow.content_type,
                                           AttachmentRow.size)
                                    .where(AttachmentRow.article_id == article.id)
                                    .order_by(AttachmentRow.id)).all()
            out.append((article.visibility, [tuple(f) for f in files]))
        return out  # type: ignore[return-value]


def test_answer_with_files_is_public_and_downloadable_by_the_customer(web: Web) -> None:
    number = web.ticket()
    alice = web.sign_in("alice@example.com")
    answer = _act(web, alice, number, FILES, text="Here is the report.", mode="reply")
    assert answer.status_code == 303, answer.text[:500]
    (article,) = _articles(web, "answer")
    assert article == ("public", [("report.pdf", "application/pdf", 15),
                                  ("notes.txt", "text/plain", 11)])
    with web.app.db.reading() as session:
        (mail,) = session.scalars(select(OutboxMail).where(OutboxMail.kind == "answer"))
        assert b"Here is the report." in mail.raw
    carol = web.sign_in("carol@example.org", kind="customer", client=web.browser())
    page = carol.get(f"/tickets/{number}").text
    link = re.search(r'href="(/tickets/[^"]+/attachments/[0-9a-f]{64})"[^>]*>report.pdf<', page)
    assert link, page
    download = carol.get(link.group(1))
    assert download.content == b"%PDF-1.4 report"
    assert download.headers["content-disposition"].startswith("attachment;")


def test_note_with_a_file_stays_internal(web: Web) -> None:
    number = web.ticket()
    alice = web.sign_in("alice@example.com")
    assert _act(web, alice, number, FILES[:1], text="the log", mode="note").status_code == 303
    assert _articles(web, "note") == [("internal", [("report.pdf", "application/pdf", 15)])]
    carol = web.sign_in("carol@example.org", kind="customer", client=web.browser())
    assert "report.pdf" not in carol.get(f"/tickets/{number}").text


def test_a_refused_block_keeps_no_file_and_files_need_a_text(web: Web) -> None:
    number = web.ticket()
    alice = web.sign_in("alice@example.com")
    refused = _act(web, alice, number, FILES, text="Here.", commands="/move Nowhere",
                   mode="reply")
    assert refused.status_code == 422 and "Nowhere" in refused.text
    alone = _act(web, alice, number, FILES, text="", mode="reply")
    assert alone.status_code == 422
    assert _articles(web, "answer") == []
    with web.app.db.reading() as session:
        assert session.scalars(select(AttachmentRow)).all() == []


@pytest.fixture
def small(desk: Desk) -> Iterator[Web]:
    """listen.max_message_size of 64 KiB."""
    text = desk.config_path.read_text().replace("listen:\n", "listen:\n  max_message_size: 64KiB\n")
    desk.config_path.write_text(text)
    yield from serve_web(desk)


def test_a_body_over_the_size_limit_is_refused_413(small: Web) -> None:
    number = small.ticket()
    alice = small.sign_in("alice@example.com")
    big = [("files", ("big.bin", b"x" * 100_000, "application/octet-stream"))]
    answer = _act(small, alice, number, big, text="big", mode="reply")
    assert answer.status_code == 413
    assert _articles(small, "answer") == []


@pytest.fixture
def kb(desk: Desk) -> Iterator[Web]:
    shutil.copytree(EXAMPLE, desk.root / "knowledge")
    desk.config_path.write_text(desk.config_path.read_text() + "kb:\n  path: ./knowledge\n")
    yield from serve_web(desk)


def test_the_form_offers_knowledge_base_entries_and_inserts_one(kb: Web) -> None:
    number = kb.ticket()
    alice = kb.sign_in("alice@example.com")
    page = alice.get(f"/tickets/{number}").text
    assert '<select id="faq" name="faq">' in page
    assert '<option value="reset-password">' in page
    answer = _act(kb, alice, number, text="Hello Carol,", faq="reset-password", mode="reply")
    assert answer.status_code == 303, answer.text[:500]
    with kb.app.db.reading() as session:
        (mail,) = session.scalars(select(OutboxMail).where(OutboxMail.kind == "answer"))
        text = mail.raw.decode("utf-8", "replace")
    assert "Hello Carol," in text and "Forgot password?" in text
    unknown = _act(kb, alice, number, text="Hi", faq="no-such-entry", mode="reply")
    assert unknown.status_code == 422 and "no-such-entry" in unknown.text


@pytest.fixture
def relayed(desk: Desk) -> Iterator[tuple[Web, Sink]]:
    """The web over a desk whose relay is a real SMTP sink on loopback."""
    sink = Sink().start()
    desk.config_path.write_text(desk.config_path.read_text().replace(
        "relay: 127.0.0.1:2\n", f"relay: 127.0.0.1:{sink.port}\n"))
    try:
        for web in serve_web(desk):
            yield web, sink
    finally:
        sink.stop()


def test_the_answer_mail_carries_the_form_files_byte_exact(relayed: tuple[Web, Sink]) -> None:
    from tests.outbound.conftest import send

    web, sink = relayed
    number = web.ticket()
    alice = web.sign_in("alice@example.com")
    data = bytes(range(256)) * 16 + b"\r\n\n\r"
    files = [("files", ("Prüfbericht\u202egpj.exe", data, "application/pdf")),
             ("files", ("a\r\nBcc: x@example.net", b"second", "text/plain"))]
    answer = _act(web, alice, number, files, text="Hello Carol, the report.", mode="reply")
    assert answer.status_code == 303, answer.text[:500]
    send(web.desk)
    (mail,) = [r for r in sink.to("carol@example.org")
               if r.message["Auto-Submitted"] is None]  # the answer, not the auto-response
    message = mail.message
    assert message.get_content_type() == "multipart/mixed"
    got = [(p.get_filename(), p.get_content_type(), p.get_payload(decode=True))
           for p in message.iter_attachments()]
    # the names as stored (and shown on the web; a browser sends CR LF as %0D%0A), with
    # no bidi override and no line break
    ((_, stored),) = _articles(web, "answer")
    assert [(name, ctype) for name, ctype, _ in stored] == [(n, c) for n, c, _ in got]
    assert got[0] == ("Prüfberichtgpj.exe", "application/pdf", data)
    assert got[1][1:] == ("text/plain", b"second")
    assert not any(c in got[1][0] for c in "\r\n\u202e")
    assert b"Bcc" not in mail.data.split(b"\r\n\r\n", 1)[0]
    body = message.get_body(("plain",))
    assert body is not None and "Hello Carol, the report." in body.get_content()


def test_files_too_big_for_one_mail_are_refused_413_before_anything_is_stored(
        small: Web) -> None:
    number = small.ticket()
    alice = small.sign_in("alice@example.com")
    # the request fits in 64 KiB; the mail would not (base64 adds a third)
    big = [("files", ("dump.bin", b"\x00" * 48_000, "application/octet-stream"))]
    answer = _act(small, alice, number, big, text="the dump", mode="reply")
    assert answer.status_code == 413
    assert "listen.max_message_size" in answer.text and "(1, 48 kB)" in answer.text
    assert _articles(small, "answer") == []
    with small.app.db.reading() as session:
        assert session.scalars(select(AttachmentRow)).all() == []
        assert session.scalars(select(OutboxMail)
                               .where(OutboxMail.kind == "answer")).all() == []
    note = _act(small, alice, number, big, text="the dump, for us", mode="note")
    assert note.status_code == 303  # a note is not mailed: no limit but the request's
