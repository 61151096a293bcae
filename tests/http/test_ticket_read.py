"""A ticket's detail (`show --json`, `GET /api/v1/tickets/{number}`) is read as plain rows:
three statements for its articles, attachments and history whatever their number, and no
ORM object per article or event (those cost 40 ms for a ticket of 50 articles: bench/api.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from maildesk.store.models import Article, AttachmentRow, History
from maildesk.views import ticket_detail
from tests.conftest import Desk, mail_bytes, simple_mail

pytestmark = pytest.mark.backends()


def detail(desk: Desk, number: str) -> tuple[dict[str, Any], int, set[type]]:
    app = desk.app()
    statements: list[str] = []
    kinds: set[type] = set()

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    def loaded(target: object, context: object) -> None:
        kinds.add(type(target))

    try:
        event.listen(app.db.read_engine, "before_cursor_execute", count)
        for cls in (Article, AttachmentRow, History):
            event.listen(cls, "load", loaded)
        with app.db.reading() as session:
            data = ticket_detail(session, number)
    finally:
        event.remove(app.db.read_engine, "before_cursor_execute", count)
        for cls in (Article, AttachmentRow, History):
            event.remove(cls, "load", loaded)
        app.close()
    assert data is not None
    return data, len(statements), kinds


def test_detail_reads_rows_in_a_fixed_number_of_statements(desk: Desk) -> None:
    assert desk.deliver(simple_mail(message_id="first@example.org")) == 0
    number = desk.tickets()[0]["number"]
    _, one_article, _ = detail(desk, number)
    with_pdf = (mail_bytes("gmail_attachment_pdf_en.eml")
                .replace(b"Greg Buyer <greg@example.net>", b"<carol@example.org>")
                .replace(b"To: billing@example.com", b"To: support@example.com"))
    for i in range(3):
        raw = (b"In-Reply-To: <first@example.org>\r\nReferences: <first@example.org>\r\n"
               + with_pdf.replace(b"Message-ID: <", f"Message-ID: <r{i}".encode(), 1))
        assert desk.deliver(raw, sender="carol@example.org") == 0
    data, four_articles, kinds = detail(desk, number)
    assert len(data["articles"]) == 4 and len(desk.tickets()) == 1
    assert four_articles == one_article
    assert not kinds  # no Article, AttachmentRow or History object was built
    shown = desk.show(number)  # the CLI prints the same object, with a store check
    assert [a.pop("damaged") for a in shown["articles"]] == [None] * 4
    assert data == shown
    assert [len(a["attachments"]) for a in data["articles"]][0] == 0
    pdfs = [a["attachments"] for a in data["articles"][1:]]
    assert all(len(files) >= 1 and files == pdfs[0] for files in pdfs), pdfs
    assert pdfs[0][0]["filename"].endswith(".pdf") and pdfs[0][0]["size"] > 0
    assert [h["at"][-1] for h in data["history"]] == ["Z"] * len(data["history"])
