"""The store: numbers unique across processes, the article store, the migration."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic import command
from sqlalchemy import inspect

from maildesk.store.articles import ArticleStore, sha256
from maildesk.store.db import Database
from maildesk.store.migrate import alembic_config, upgrade
from tests.conftest import Desk, simple_mail


def test_two_processes_delivering_at_once_get_distinct_numbers(desk: Desk) -> None:
    mails = [simple_mail(subject=f"parallel {i}") for i in range(12)]

    def deliver(raw: bytes) -> int:
        return subprocess.run(
            [sys.executable, "-m", "maildesk", "--config", str(desk.config_path), "deliver",
             "--sender", "carol@example.org", "--recipient", "support@example.com"],
            input=raw, capture_output=True, timeout=120,
        ).returncode

    with ThreadPoolExecutor(max_workers=4) as pool:
        codes = list(pool.map(deliver, mails))
    assert codes == [0] * 12
    numbers = [t["number"] for t in desk.tickets()]
    assert len(numbers) == 12 == len(set(numbers))
    assert sorted(t["title"] for t in desk.tickets()) == sorted(f"parallel {i}" for i in range(12))


def test_article_store_is_content_addressed_and_complete(tmp_path) -> None:  # noqa: ANN001
    db = Database(f"sqlite:///{tmp_path}/t.db")
    upgrade(db)
    store = ArticleStore(tmp_path, "filesystem")
    data = b"From: a@b\r\n\r\nbody\x00\xff"
    with db.transaction() as s:
        key = store.put(s, data)
        assert store.put(s, data) == key == sha256(data)
    path = tmp_path / "articles" / key[:2] / key[2:4] / key
    assert path.read_bytes() == data
    assert not list(path.parent.glob(".tmp-*"))
    with db.reading() as s:
        assert store.get(s, key) == data
        assert b"".join(store.chunks(s, key, 3)) == data  # verify's read, a file's layout
    with pytest.raises(ValueError):
        store.get(None, "../../etc/passwd")  # type: ignore[arg-type]


def test_article_store_keys_are_lowercase_sha256_hex_only(tmp_path) -> None:  # noqa: ANN001
    """The mail path's string paths (`_file`) are the pathlib ones (`_path`); anything but
    64 lowercase hex digits is refused by both, also when the blob would only be kept
    pending for a group commit."""
    store = ArticleStore(tmp_path, "filesystem")
    key = sha256(b"x")
    assert store._file(key) == str(store._path(key))
    bad = [key.upper(), key[:-1], key + "0", key + "\n", "../" + key[3:], key[:-1] + "g",
           key[:-1] + "\u0660"]
    for wrong in [*bad, ""]:
        for check in (store._file, store._path, lambda k: store.has_file(k, 1)):
            with pytest.raises(ValueError):
                check(wrong)
    for wrong in bad:  # ("" is no key given: put hashes the data)
        with store.deferred(), pytest.raises(ValueError):
            store.put(object(), b"x", wrong)  # type: ignore[arg-type]
    assert not store.has_file(key, 1)


def test_article_store_database_mode(tmp_path) -> None:  # noqa: ANN001
    db = Database(f"sqlite:///{tmp_path}/t.db")
    upgrade(db)
    store = ArticleStore(tmp_path, "database")
    with db.transaction() as s:
        key = store.put(s, b"raw mail")
    assert not (tmp_path / "articles").exists()
    with db.reading() as s:
        assert store.get(s, key) == b"raw mail"


def test_sqlite_is_wal_with_full_sync(tmp_path) -> None:  # noqa: ANN001
    db = Database(f"sqlite:///{tmp_path}/t.db")
    db.create()
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_migration_creates_the_schema_the_models_describe(tmp_path) -> None:  # noqa: ANN001
    db = Database(f"sqlite:///{tmp_path}/t.db")
    upgrade(db)
    tables = set(inspect(db.engine).get_table_names())
    assert {"tickets", "articles", "attachments", "history", "message_ids", "customers",
            "outbox", "counters"} <= tables
    cfg = alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.check(cfg)  # raises when models and migrations disagree


@pytest.mark.backends("sqlite")
def test_a_missing_sqlite_database_is_an_error_not_a_new_empty_one(desk: Desk) -> None:
    db_file = desk.root / "var" / "maildesk.db"
    for suffix in ("", "-wal", "-shm"):
        db_file.with_name(db_file.name + suffix).unlink(missing_ok=True)
    assert desk.deliver(simple_mail()) == 75  # the MTA keeps the mail
    assert desk.cli("tickets").returncode == 75
    assert not db_file.exists()
