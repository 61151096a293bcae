"""A ticket's detail (`show --json`, `GET /api/v1/tickets/{number}`) is read as plain rows:
three statements for its articles, attachments and history whatever their number, and no
ORM object per article or event (those cost 40 ms for a ticket of 50 articles: bench/api.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import event, select

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


def test_detail_in_a_transaction_sees_its_unflushed_rows_and_every_details_shape(
        desk: Desk) -> None:
    """The detail's rows are read on the session's connection (no autoflush there): what
    the caller's transaction added must show all the same. The history details are parsed
    as one JSON array: values holding commas, brackets and quotes come out whole."""
    from datetime import datetime

    from maildesk.store.models import Ticket

    assert desk.deliver(simple_mail(message_id="shapes@example.org")) == 0
    number = desk.tickets()[0]["number"]
    shapes = ['{"a": "],[", "b": [1, {"c": "\\"x\\", y"}]}', '"text, with a comma"', "[]",
              "{}", "17", "null", '["ü", "\\u2028"]']
    app = desk.app()
    try:
        with app.db.transaction() as session:
            ticket = session.execute(select(Ticket).where(Ticket.number == number)
                                     ).scalar_one()
            session.add_all(History(ticket_id=ticket.id, event=f"shape{i}", actor="test",
                                    at=datetime(2026, 12, 1, 10, 0, i, 999_999),
                                    details_json=text) for i, text in enumerate(shapes))
            data = ticket_detail(session, number, ticket)  # the row given: no query first
            assert data is not None
            session.rollback()
    finally:
        app.close()
    mine = [h for h in data["history"] if h["event"].startswith("shape")]
    assert [h["details"] for h in mine] == [json.loads(text) for text in shapes]
    assert [h["at"] for h in mine] == [f"2026-12-01T10:00:0{i}Z" for i in range(len(shapes))]


def test_an_api_read_is_one_read_transaction_with_its_token_check(desk: Desk) -> None:
    """`run_as` checks the token and reads the ticket in one read transaction (one BEGIN:
    ~0.1 ms of session a GET less, issue 15); the token's last use is still written, also
    when the read refuses; the next read on that thread is a transaction of its own."""
    import asyncio
    import time
    from concurrent.futures import ThreadPoolExecutor

    from maildesk.http import tokens
    from maildesk.http.api import reads
    from maildesk.http.auth import run_as
    from maildesk.http.context import HttpContext
    from maildesk.http.errors import ApiError
    from maildesk.http.limits import RateLimiter
    from maildesk.http.metrics import Metrics

    number = str(desk.ingest(simple_mail()).ticket)
    app = desk.app()
    begins: list[str] = []

    def began(conn: object) -> None:
        begins.append("begin")

    def get(caller: Any, rt: Any, n: str) -> tuple[dict[str, object], str]:
        return reads.get_ticket(rt, caller, n)

    def last_used() -> object:
        with app.db.reading() as session:
            return session.execute(text_("SELECT last_used_at FROM api_tokens")).scalar()

    pool = ThreadPoolExecutor(1)
    try:
        with app.db.transaction() as session:
            secret = tokens.create(session, "reader", "read", [])
        with app.db.reading() as session:
            found = tokens.find(session, secret)
        assert found is not None
        ctx = HttpContext(app, pool, Metrics(), RateLimiter(lambda: (1000.0, 1000)))
        ctx.touched[found.id] = time.monotonic()  # used just now: no write in this GET
        event.listen(app.db.read_engine, "begin", began)
        data, tag = asyncio.run(run_as(ctx, secret, get, app.runtime, number))
        event.remove(app.db.read_engine, "begin", began)
        assert data["number"] == number and tag.startswith('"')
        assert begins == ["begin"]
        assert asyncio.run(run_as(ctx, secret, get, app.runtime, number))[0] == data
        ctx.touched.clear()
        with pytest.raises(ApiError):
            asyncio.run(run_as(ctx, secret, get, app.runtime, "999999"))
        assert last_used() is not None  # written after the refused read
    finally:
        pool.shutdown()
        app.close()


def text_(sql: str) -> Any:
    from sqlalchemy import text

    return text(sql)
