"""The ingest transaction's cheaper writes (issue 20) keep their meaning on every backend
(tests/store/ runs on SQLite, PostgreSQL and MariaDB): rows kept by `deferred_inserts`
are seen by any read in the transaction and vanish with a rolled-back savepoint, the
auto-response caps stop at the cap with one upsert, a new ticket's INSERT carries its
customer, and a group commit's new article folders are made and synced with its files."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from sqlalchemy import event, func, insert, select

from maildesk.core.tickets import index_message_id, record
from maildesk.intake.message import Envelope
from maildesk.outbound.hygiene import take_slot
from maildesk.store.articles import ArticleStore
from maildesk.store.db import deferred_inserts, execute_core, insert_ignore
from maildesk.store.models import AutoResponseCount, Customer, History, MessageIdRow, Ticket
from tests.conftest import Desk, simple_mail


def _new_ticket(desk: Desk, subject: str = "printer on fire",
                seen: list[str] | None = None) -> str:
    app = desk.app()
    if seen is not None:
        event.listen(app.db.engine, "before_cursor_execute",
                     lambda _c, _cur, sql, *_a: seen.append(" ".join(sql.split())))
    try:
        sender = "carol@example.org"
        outcome = app.ingest(simple_mail(subject=subject, sender=sender),
                             Envelope(sender=sender, recipients=("support@example.com",)))
        assert outcome.ticket, outcome
        return outcome.ticket
    finally:
        app.close()


def _events(session: object, ticket_id: int) -> list[str]:
    return list(session.execute(  # type: ignore[attr-defined]
        select(History.event).where(History.ticket_id == ticket_id).order_by(History.id)
    ).scalars())


def test_deferred_rows_are_read_back_written_at_the_end_and_rolled_back(desk: Desk) -> None:
    number = _new_ticket(desk)
    app = desk.app()
    statements: list[str] = []  # the table of each INSERT the connection runs

    def seen(_c: object, _cur: object, sql: str, *_args: object) -> None:
        into = re.search(r"(?i)^\s*INSERT\b.*?\bINTO\s+[`\"]?(\w+)", sql)
        statements.append(into.group(1) if into else sql.split()[0].upper())

    try:
        with app.db.transaction() as session:
            ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
            before = _events(session, ticket.id)
            event.listen(app.db.engine, "before_cursor_execute", seen)
            with deferred_inserts(session):
                record(session, ticket, "one")
                record(session, ticket, "two")
                assert statements == []  # kept, not written yet
                # a read in the transaction sees them: they are written first
                assert _events(session, ticket.id) == before + ["one", "two"]
                record(session, ticket, "three")
                index_message_id(session, ticket, "a@hotpath.test", "out")
                index_message_id(session, ticket, "b@hotpath.test", "out")
                index_message_id(session, ticket, "a@hotpath.test", "out")  # ignored twice
            event.remove(app.db.engine, "before_cursor_execute", seen)
            # three history rows in two statements (a read came between), three
            # Message-ID rows in one
            writes = [s for s in statements if s in ("history", "message_ids")]
            assert writes == ["history", "history", "message_ids"], statements
            # a savepoint that fails takes its kept rows with it; the others stay
            nested = session.begin_nested()
            try:
                with deferred_inserts(session):
                    record(session, ticket, "lost")
                    raise RuntimeError("a bad mail")
            except RuntimeError:
                nested.rollback()
            record(session, ticket, "four")  # outside a block: written at once
        with app.db.reading() as session:
            assert _events(session, ticket.id) == before + ["one", "two", "three", "four"]
            ids = session.execute(select(MessageIdRow.message_id).where(
                MessageIdRow.ticket_id == ticket.id, MessageIdRow.direction == "out")
            ).scalars().all()
            assert sorted(i for i in ids if i.endswith("@hotpath.test")) == [
                "a@hotpath.test", "b@hotpath.test"]
    finally:
        app.close()


def test_a_core_statement_past_the_session_keeps_the_kept_rows_order(desk: Desk) -> None:
    """`execute_core` runs on the session's connection, past the session event that writes
    kept rows first: a read writes them itself (the duplicate check, the customer row
    see them), an INSERT leaves them kept."""
    number = _new_ticket(desk)
    app = desk.app()
    table = History.__table__
    try:
        with app.db.transaction() as session:
            ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
            with deferred_inserts(session):
                record(session, ticket, "kept")
                execute_core(session, insert(table), {
                    "ticket_id": ticket.id, "event": "direct", "actor": "system",
                    "at": ticket.created_at, "details_json": "{}"})
                read = select(table.c.event).where(table.c.ticket_id == ticket.id)
                events = list(execute_core(session, read.order_by(table.c.id)).scalars())
                assert events[-2:] == ["direct", "kept"], events
            assert _events(session, ticket.id)[-2:] == ["direct", "kept"]
    finally:
        app.close()


def test_caps_count_to_the_cap_in_one_statement_each(desk: Desk) -> None:
    app = desk.app()
    try:
        for _ in range(2):  # the cap holds inside one transaction and across several
            with app.db.transaction() as session:
                taken = [take_slot(session, "robot@example.net", 3, "2026-12-01")
                         for _ in range(2)]
                taken.append(take_slot(session, "other@example.net", 1, "2026-12-01"))
            assert taken in ([True, True, True], [True, False, False])
        with app.db.transaction() as session:
            assert not take_slot(session, "robot@example.net", 3, "2026-12-01")
            assert take_slot(session, "robot@example.net", 3, "2026-12-02")  # a new day
            assert not take_slot(session, "nobody@example.net", 0, "2026-12-01")
        with app.db.reading() as session:
            rows = dict(session.execute(select(AutoResponseCount.address,
                                               func.sum(AutoResponseCount.count))
                                        .group_by(AutoResponseCount.address)).all())
        assert rows == {"robot@example.net": 4, "other@example.net": 1}
    finally:
        app.close()


def test_insert_ignore_says_whether_it_inserted(desk: Desk) -> None:
    app = desk.app()
    try:
        with app.db.transaction() as session:
            first = insert_ignore(session, AutoResponseCount, address="x@example.net",
                                  day="2026-12-01", count=1)
            again = insert_ignore(session, AutoResponseCount, address="x@example.net",
                                  day="2026-12-01", count=1)
        assert (first, again) == (True, False)  # PostgreSQL said True twice before
    finally:
        app.close()


def test_a_new_ticket_is_inserted_with_its_customer(desk: Desk) -> None:
    seen: list[str] = []
    number = _new_ticket(desk, seen=seen)
    # no UPDATE of the fresh ticket sets its customer after the INSERT
    assert not [s for s in seen if re.match(r"(?i)UPDATE [`\"]?tickets\b", s)
                and "customer_id" in s.split("WHERE")[0]], seen
    assert any(re.match(r"(?i)INSERT INTO [`\"]?tickets\b", s) for s in seen)
    app = desk.app()
    try:
        with app.db.reading() as session:
            ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
            customer = session.execute(select(Customer).where(
                Customer.address == "carol@example.org")).scalar_one()
            assert ticket.customer_id == customer.id
            events = _events(session, ticket.id)
            assert events[:2] == ["created", "article added"]
            details = json.loads(session.execute(select(History.details_json).where(
                History.ticket_id == ticket.id, History.event == "created")).scalar_one())
            assert details["queue"] == "Support"
    finally:
        app.close()


def test_group_commit_appends_its_articles_to_one_segment_before_the_commit(
        tmp_path: Path, desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ArticleStore(tmp_path / "store")
    segments = tmp_path / "store" / "articles" / "segments"
    app = desk.app()
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    try:
        with store.deferred() as pending, app.db.transaction() as session:
            keys = [store.put(session, f"mail {n}\n".encode()) for n in range(5)]
            keys.append(store.put(session, b"mail 0\n"))  # the same bytes: stored once
            assert not segments.exists()  # pending until flush
            assert store.get(session, keys[0]) == b"mail 0\n"  # the batch reads its own
            pending.flush()
            assert len(synced) >= 2  # the segment and its new folder, before the commit
        assert not any(store._path(k).exists() for k in keys)  # no file per mail
        (segment,) = segments.iterdir()
        assert segment.read_bytes() == b"".join(f"mail {n}\n".encode() for n in range(5))
        with app.db.reading() as session:
            for n, key in enumerate(keys[:5]):
                assert store.get(session, key) == f"mail {n}\n".encode()
                assert b"".join(store.chunks(session, key, 2)) == f"mail {n}\n".encode()
        with store.deferred() as pending, app.db.transaction() as session:
            store.put(session, b"mail 1\n")  # already in the segment: not written again
            pending.flush()
        assert segment.stat().st_size == 35
        with pytest.raises(RuntimeError), store.deferred() as pending, \
                app.db.transaction() as session:
            lost = store.put(session, b"a batch that fails\n")
            raise RuntimeError("the batch fails before its flush")
        assert segment.stat().st_size == 35  # discarded: nothing half there
        with app.db.reading() as session, pytest.raises(FileNotFoundError):
            store.get(session, lost)
    finally:
        app.close()


def test_a_first_mail_reads_its_customer_row_once(desk: Desk) -> None:
    """Routing's `known_customer`, the ticket's link and the auto-response's language
    read the sender's row once; the INSERT that makes it is not read back."""
    seen: list[str] = []
    number = _new_ticket(desk, seen=seen)
    customers = [s for s in seen if re.search(r"(?i)\bcustomers\b", s)
                 and not s.upper().startswith("UPDATE")]
    assert [s.split()[0].upper() for s in customers] == ["SELECT", "INSERT"], customers
    app = desk.app()
    try:
        with app.db.reading() as session:
            ticket_id = session.execute(select(Ticket.id).where(
                Ticket.number == number)).scalar_one()
            sent = [json.loads(d) for d in session.execute(select(History.details_json).where(
                History.ticket_id == ticket_id,
                History.event == "auto-response sent")).scalars()]
            language = session.execute(select(Customer.language).where(
                Customer.address == "carol@example.org")).scalar_one()
        assert [s["language"] for s in sent] == [language or "en"]
    finally:
        app.close()


def test_core_written_tickets_keep_counts_versions_and_the_session_view(desk: Desk) -> None:
    """A new ticket and its article are Core INSERTs (no unit of work), yet the ticket
    counts, the version check of a later UPDATE and the session's objects agree."""
    from maildesk.store import rollup

    seen: list[str] = []
    number = _new_ticket(desk, seen=seen)
    # the INSERTs carry every column: the rows are never read back in that transaction
    assert not [s for s in seen if re.search(
        r"(?i)FROM [`\"]?(tickets|articles)[`\"]? WHERE [`\"]?\1[`\"]?\.[`\"]?id\b", s)], seen
    sender = "carol@example.org"
    app = desk.app()
    try:
        outcome = app.ingest(simple_mail(subject=f"Re: [Ticket#{number}] more", sender=sender),
                             Envelope(sender=sender, recipients=("support@example.com",)))
        assert outcome.ticket == number
        with app.db.transaction() as session:
            assert rollup.drift(session) == {}
            ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
            assert [a.kind for a in ticket.articles] == ["mail", "mail"]
            version = ticket.version
            ticket.state = "open"
        with app.db.reading() as session:
            ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
            assert (ticket.state, ticket.version) == ("open", version + 1)
            assert rollup.drift(session) == {}
    finally:
        app.close()


def test_an_added_article_joins_its_tickets_articles_only_when_they_are_loaded(
        desk: Desk) -> None:
    """add_article tells a ticket whose articles were read of the new one (no SELECT
    later); a ticket whose articles were not read still reads them all when asked."""
    from maildesk.core.tickets import add_article
    from maildesk.intake.parse import parse_message

    number = _new_ticket(desk)
    app = desk.app()
    seen: list[str] = []
    event.listen(app.db.engine, "before_cursor_execute",
                 lambda _c, _cur, sql, *_a: seen.append(sql))
    try:
        with app.db.transaction() as session:
            ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
            mail = parse_message(simple_mail(subject="Re: printer"))
            add_article(session, app.store, ticket, mail=mail, raw=None, envelope=None)
            assert "articles" not in ticket.__dict__  # not read, not made up
            assert len(ticket.articles) == 2  # read now: both
            before = len(seen)
            third = add_article(session, app.store, ticket, mail=mail, raw=None,
                                envelope=None)
            assert ticket.articles[-1] is third and len(ticket.articles) == 3
            assert not [s for s in seen[before:] if re.match(r"(?i)\s*SELECT", s)]
    finally:
        app.close()


@pytest.mark.parametrize("count", [1, 2, 9, 16, 17, 40])
def test_a_group_commit_writes_only_the_blobs_no_segment_holds_yet(
        tmp_path: Path, desk: Desk, count: int) -> None:
    """The look-up of a batch's keys (`=` for one, an IN of plain parameters for a few, an
    expanding IN for more) finds those stored before, and only the others are appended."""
    store = ArticleStore(tmp_path / "store")
    segments = tmp_path / "store" / "articles" / "segments"
    app = desk.app()
    try:
        old = [f"old {n}\n".encode() for n in range(count)]
        with store.deferred() as pending, app.db.transaction() as session:
            for blob in old[::2]:
                store.put(session, blob)
            pending.flush()
        (segment,) = segments.iterdir()
        size = segment.stat().st_size
        new = [f"new {n}\n".encode() for n in range(count)]
        batch = [blob for pair in zip(old, new, strict=True) for blob in pair][:count]
        with store.deferred() as pending, app.db.transaction() as session:
            keys = [store.put(session, blob) for blob in batch]
            pending.flush()
        added = b"".join(blob for blob in batch if blob not in old[::2])
        assert segment.read_bytes()[size:] == added
        with app.db.reading() as session:
            assert [store.get(session, key) for key in keys] == batch
    finally:
        app.close()


def test_an_inserted_object_is_in_the_session_as_if_loaded(desk: Desk) -> None:
    """store.rows.insert_object attaches without Session.add's cascade walk: the object
    is persistent and clean, found by its key, its relationships load when asked, a later
    change is an UPDATE; one carrying a related object still cascades it into the session."""
    from sqlalchemy import inspect as sa_inspect

    from maildesk.store.models import Article, utcnow
    from maildesk.store.rows import insert_object, new_object

    number = _new_ticket(desk)
    app = desk.app()
    try:
        with app.db.transaction() as session:
            ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
            columns = dict(message_id=None, from_addr="a@example.org", to_json="[]",
                           cc_json="[]", subject="s", sender_type="customer",
                           visibility="internal", kind="note", body="b", raw_sha256=None,
                           content_sha256=None, raw_key=None, raw_size=0,
                           envelope_json="{}", notes_json="[]", verified=True,
                           created_at=utcnow(), has_html=None)
            article = insert_object(session, new_object(Article, ticket_id=ticket.id, **columns))
            state = sa_inspect(article)
            assert state.persistent and not state.modified
            assert article not in session.dirty and article not in session.new
            assert session.get(Article, article.id) is article
            assert article.ticket is ticket and article.attachments == []
            article.body = "changed"
            session.flush()
            assert session.execute(select(Article.body).where(
                Article.id == article.id)).scalar_one() == "changed"
            other = new_object(Ticket, number="x-1", title="t", queue=ticket.queue,
                               customer="c@example.org", priority=3, state="new", owner=None,
                               locked=False, customer_id=None, cc_json="[]", tags_json="[]",
                               language=None, pending_until=None, merged_into_id=None,
                               linked_to_id=None, created_at=utcnow(), updated_at=utcnow(),
                               first_response_at=None, closed_at=None, version=1)
            carried = new_object(Article, ticket_id=ticket.id, **columns)
            carried.__dict__["ticket"] = other  # a related object along: cascaded
            insert_object(session, carried)
            assert other in session.new
            session.rollback()
    finally:
        app.close()


def test_loaded_objects_are_what_the_orm_query_gives(desk: Desk) -> None:
    """store.rows.loaded_objects (the threading lookup's tickets past Session.execute,
    issue 20): a ticket not in the session comes persistent and clean with every column as
    the ORM loads it (its articles load when asked, a change is an UPDATE with its version
    check); one the session holds is that object, its unflushed change kept; one held
    expired is left to the ORM's query (None)."""
    from sqlalchemy import inspect as sa_inspect

    from maildesk.core.threads import find_ticket
    from maildesk.intake.parse import parse_message
    from maildesk.store.rows import loaded_objects, table_columns

    number = _new_ticket(desk)
    app = desk.app()
    by_number = select(*table_columns(Ticket)).where(Ticket.number == number)
    try:
        with app.db.reading() as session:
            orm = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
            expected = {c.key: getattr(orm, c.key) for c in sa_inspect(Ticket).column_attrs}
        with app.db.transaction() as session:
            rows = execute_core(session, by_number).all()
            (ticket,) = loaded_objects(session, Ticket, rows) or []
            state = sa_inspect(ticket)
            assert state.persistent and not state.modified and not state.expired_attributes
            assert {c.key: getattr(ticket, c.key)
                    for c in sa_inspect(Ticket).column_attrs} == expected
            assert session.get(Ticket, ticket.id) is ticket
            assert loaded_objects(session, Ticket, rows) == [ticket]  # held: that object
            assert [a.kind for a in ticket.articles] == ["mail"]
            ticket.title = "unflushed"
            assert loaded_objects(session, Ticket, rows) == [ticket]
            assert ticket.title == "unflushed"
            session.flush()
            assert ticket.version == expected["version"] + 1
            session.expire(ticket, ["title"])
            assert loaded_objects(session, Ticket, rows) is None
            session.rollback()
        raw = simple_mail(subject=f"Re: [Ticket#{number}] more", sender="carol@example.org")
        with app.db.transaction() as session:
            found = find_ticket(session, app.config, app.secret, parse_message(raw),
                                Envelope(sender="carol@example.org",
                                         recipients=("support@example.com",)))
            assert found.via == "subject" and found.ticket is not None
            assert found.ticket.number == number
            assert session.get(Ticket, found.ticket.id) is found.ticket
    finally:
        app.close()


def test_connection_of_is_the_sessions_connection(desk: Desk) -> None:
    """store.lean.connection_of (issue 20) answers what `session.connection()` does: before
    the transaction begins, in it, in a savepoint before and after its first statement,
    after the savepoint's rollback; a closed session's transaction is not taken."""
    from sqlalchemy.orm import Session

    from maildesk.store.lean import connection_of

    app = desk.app()
    try:
        with app.db.transaction() as session:
            first = connection_of(session)
            assert first is session.connection()
            assert connection_of(session) is first
            nested = session.begin_nested()
            assert connection_of(session) is session.connection() is first
            execute_core(session, select(func.count()).select_from(Ticket)).scalar()
            assert connection_of(session) is first
            nested.rollback()
            assert connection_of(session) is session.connection() is first
        with Session(app.db.engine) as plain:
            conn = connection_of(plain)
            assert conn is plain.connection()
            plain.rollback()
            assert connection_of(plain) is plain.connection()
            assert connection_of(plain) is not conn or not conn.closed
    finally:
        app.close()
