"""The read-only SQL backend: an existing CRM table with its own column names, found by
address (case-insensitive), never written, cached, and harmless when down or attacked."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from maildesk.config import ConfigError
from maildesk.customers.cache import CachedBackend, lookup_counts
from maildesk.customers.directory import backends_from_config, close_all
from maildesk.customers.record import BackendDown, CustomerRecord
from maildesk.customers.sql import SqlBackend
from tests.conftest import ADMIN_URLS, Server
from tests.customers.crm import COLUMNS, checksum, config_with, postgres_crm, sqlite_crm

INJECTIONS = [
    "x' OR '1'='1@example.org",
    "bob@example.org' --",
    "'; DROP TABLE contacts; --@example.org",
    "%@example.org",
    "_ob@example.org",
    "*)(uid=*@example.org",
]


@pytest.fixture(autouse=True)
def _close_backends() -> Iterator[None]:
    yield
    close_all()


def sql_config(folder: Path, url: str, table: str = "contacts", extra: str = "") -> str:
    return (f"customers:\n  backend: sql\n  url: {url}\n  table: {table}\n"
            f"  columns: {COLUMNS}\n{extra}")


def test_sqlite_crm_is_mapped_and_never_written(tmp_path: Path) -> None:
    crm = sqlite_crm(tmp_path / "crm.db")
    before = checksum(crm)
    config = config_with(tmp_path, sql_config(tmp_path, f"sqlite:///{crm}"))
    [backend] = backends_from_config(config)
    assert backend.name == "sql"
    ann = backend.lookup("ANN@example.org")
    assert ann == CustomerRecord(
        address="ann@example.org", name="Ann Archer", company="Acme", language="de",
        password_hash="$2b$12$abcdefghijklmnopqrstuv", company_admin=True, source="sql")
    bob = backend.lookup("bob@example.org")
    assert bob is not None and bob.company_admin is False and bob.language is None
    assert backend.lookup("nobody@example.org") is None
    for attack in INJECTIONS:
        assert backend.lookup(attack) is None, attack
    # The connection itself refuses writes, whatever is sent through it.
    sql = SqlBackend(config.customers[0])
    with sql.engine.connect() as conn, pytest.raises(SQLAlchemyError, match="readonly"):
        conn.execute(text("DELETE FROM contacts"))
    sql.close()
    assert checksum(crm) == before
    assert len(sqlite3.connect(crm).execute("SELECT * FROM contacts").fetchall()) == 3
    # The same config object gives the same (cached) backends.
    assert backends_from_config(config)[0] is backend


@pytest.fixture
def pg_crm() -> Iterator[tuple[str, str]]:
    server = Server("postgresql", ADMIN_URLS["postgresql"])
    reason = server.unavailable()
    server.close()
    if reason is not None:
        pytest.fail(f"PostgreSQL is needed for the CRM test: {reason}")
    yield from postgres_crm()


@pytest.mark.postgres
def test_postgresql_crm_other_column_names_read_only(
        tmp_path: Path, pg_crm: tuple[str, str]) -> None:
    url, table = pg_crm
    columns = COLUMNS.replace("address: email", 'address: "E-Mail"')
    config = config_with(tmp_path, (
        f"customers:\n  - backend: sql\n    name: crm\n    url: {url}\n    table: {table}\n"
        f"    columns: {columns}\n"))
    [backend] = backends_from_config(config)
    ann = backend.lookup("ann@example.org")
    assert ann is not None and ann.name == "Ann Archer" and ann.company_admin is True
    assert ann.source == "sql" and backend.name == "crm"
    assert backend.lookup("carl@other.example") == CustomerRecord(
        address="carl@other.example", name="Carl", language="fr", source="sql")
    for attack in INJECTIONS:
        assert backend.lookup(attack) is None, attack
    sql = SqlBackend(config.customers[0])
    with sql.engine.connect() as conn, pytest.raises(SQLAlchemyError, match="read-only"):
        conn.execute(text(f"DELETE FROM {table}"))
    sql.close()
    rows = SqlBackend(config.customers[0])
    with rows.engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 3
    rows.close()


def test_config_problems_are_reported_with_lines(tmp_path: Path) -> None:
    bad = (
        "customers:\n"
        "  - backend: sql\n"                             # 6: no table, no columns
        "    url: sqlite:///crm.db\n"
        "  - backend: ldap\n"                            # 8
        "    url: ldap://127.0.0.1:389\n"
        "    base_dn: dc=example,dc=com\n"
        "    filter: (mail=*)\n"                         # 11: no {address}
        "    table: people\n"                            # 12: sql key
        "  - backend: oracle\n"                          # 13
        "    url: oracle://crm\n"
        "  - backend: sql\n"
        "    url: sqlite:///crm.db\n"
        "    table: contacts\n"
        "    columns: {name: full_name, phone: tel}\n"   # 18: no address, unknown field
        "    cache_ttl: soon\n"                          # 19
    )
    with pytest.raises(ConfigError) as err:
        config_with(tmp_path, bad)
    text_ = "\n".join(err.value.messages)
    for line, words in [
        (6, "missing required key 'table'"), (11, "must contain {address}"),
        (12, "'table' is for sql backends"), (13, "'oracle' is not one of: sql, ldap"),
        (18, "unknown key 'phone'"), (18, "'address' is required"), (19, "cache_ttl"),
    ]:
        assert any(m.startswith(f"{tmp_path}/maildesk.yaml:{line}:") and words in m
                   for m in err.value.messages), (line, words, text_)


def test_one_mapping_or_a_list_in_order(tmp_path: Path) -> None:
    crm = sqlite_crm(tmp_path / "crm.db")
    config = config_with(
        tmp_path, sql_config(tmp_path, "sqlite:///crm.db", extra="  cache_ttl: 1m\n"))
    [one] = config.customers
    assert one.cache_ttl == 60.0 and one.columns["address"] == "email"
    assert one.url == "sqlite:///crm.db"
    (tmp_path / "sub").mkdir()
    two = config_with(tmp_path / "sub", (
        f"customers:\n  - {{backend: sql, name: first, url: 'sqlite:///{crm}', table: contacts,"
        f" columns: {{address: email}}}}\n  - backend: ldap\n    url: ldap://127.0.0.1:1\n"
        "    base_dn: dc=example,dc=com\n"))
    assert [b.label for b in two.customers] == ["first", "ldap"]
    assert two.customers[1].attributes["address"] == "mail"
    assert config_with(tmp_path / "sub", "").customers == ()


class Slow:
    """A Backend that answers after `delay` seconds (a CRM under load)."""

    def __init__(self, delay: float) -> None:
        self.name = f"slow{id(self)}"
        self.delay = delay
        self.calls = 0

    def lookup(self, address: str) -> CustomerRecord | None:
        self.calls += 1
        time.sleep(self.delay)
        return CustomerRecord(address=address, source="sql") if "known" in address else None


def test_cache_keeps_answers_and_no_answers_for_the_ttl() -> None:
    now = [0.0]
    inner = Slow(0)
    cached = CachedBackend(inner, ttl=60, size=2, clock=lambda: now[0])
    assert cached.lookup("known@example.org") is not None
    assert cached.lookup("Known@Example.org") is not None
    assert cached.lookup("stranger@example.org") is None
    assert cached.lookup("stranger@example.org") is None
    assert inner.calls == 2
    now[0] = 61.0
    assert cached.lookup("stranger@example.org") is None
    assert inner.calls == 3
    cached.lookup("known2@example.org")
    cached.lookup("known3@example.org")  # size 2: the least recently used is dropped
    assert len(cached.cache) == 2
    counts = lookup_counts()
    assert counts[(inner.name, "hit")] == 2 and counts[(inner.name, "not_found")] == 2
    cached.close()


def test_slow_crm_answers_unknown_for_now_then_fills_the_cache() -> None:
    inner = Slow(0.6)
    cached = CachedBackend(inner, timeout=0.1)
    started = time.monotonic()
    with pytest.raises(BackendDown, match="no answer within 0.1s"):
        cached.lookup("known@example.org")
    assert time.monotonic() - started < 0.5
    # Concurrent misses for one address share the running lookup.
    with pytest.raises(BackendDown):
        cached.lookup("known@example.org")
    deadline = time.monotonic() + 5
    while len(cached.cache) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cached.lookup("known@example.org") is not None
    assert inner.calls == 1
    assert lookup_counts()[(inner.name, "slow")] == 2
    cached.close()


def test_crm_down_is_unknown_for_now_warned_once_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = config_with(tmp_path, sql_config(
        tmp_path, "postgresql://nobody@127.0.0.1:1/crm", extra="  name: downcrm\n"
        "  retry_after: 0.2\n"))
    [backend] = backends_from_config(config)
    before = lookup_counts().get(("downcrm", "down"), 0)
    with caplog.at_level(logging.DEBUG, logger="maildesk.customers"):
        for _ in range(3):
            with pytest.raises(BackendDown):
                backend.lookup("ann@example.org")
        with pytest.raises(BackendDown, match="retrying later"):
            backend.lookup("bob@example.org")  # within retry_after: not even asked
        time.sleep(0.3)
        with pytest.raises(BackendDown):
            backend.lookup("bob@example.org")
    down = [r for r in caplog.records if "downcrm is down" in r.getMessage()]
    assert [r.levelname for r in down] == ["WARNING", "DEBUG"]  # once loud, then quiet
    assert "mail is still accepted" in down[0].getMessage()
    assert lookup_counts()[("downcrm", "down")] == before + 2
    assert lookup_counts()[("downcrm", "skipped")] >= 3


def test_sqlite_crm_missing_file_or_wrong_table_is_down(tmp_path: Path) -> None:
    config = config_with(tmp_path, sql_config(tmp_path, f"sqlite:///{tmp_path}/none.db"))
    with pytest.raises(BackendDown, match="unable to open"):
        backends_from_config(config)[0].lookup("ann@example.org")
    assert not (tmp_path / "none.db").exists()  # mode=ro never creates it
    sqlite_crm(tmp_path / "crm.db")
    (tmp_path / "b").mkdir()
    wrong = config_with(tmp_path / "b", sql_config(tmp_path, f"sqlite:///{tmp_path}/crm.db",
                                                   table="people"))
    with pytest.raises(BackendDown, match="no such table"):
        backends_from_config(wrong)[0].lookup("ann@example.org")


def test_lookups_refuse_the_event_loop(tmp_path: Path) -> None:
    import asyncio

    cached = CachedBackend(Slow(0))

    async def on_loop() -> None:
        cached.lookup("known@example.org")

    with pytest.raises(RuntimeError, match="event loop"):
        asyncio.run(on_loop())
    done = threading.Event()

    async def in_thread() -> None:
        await asyncio.to_thread(cached.lookup, "known@example.org")
        done.set()

    asyncio.run(in_thread())
    assert done.is_set()
    cached.close()


def test_waiting_on_a_slow_crm_is_budgeted_to_half_the_time() -> None:
    """Cold lookups that each take 0.3 s: callers wait at most 30% of the time (plus the
    first half second), the rest of the misses are unknown for now at once."""
    inner = Slow(0.3)
    cached = CachedBackend(inner, timeout=1.0)
    waited, n, answered = 0.0, 0, 0
    started = time.monotonic()
    while time.monotonic() - started < 3:
        t = time.monotonic()
        try:
            answered += cached.lookup(f"known{n}@example.org") is not None
        except BackendDown:
            pass
        waited += time.monotonic() - t
        time.sleep(0.005)  # the mail's own work
        n += 1
    elapsed = time.monotonic() - started
    assert waited <= 0.3 * elapsed + 0.5 + 0.5, (waited, elapsed)
    assert answered >= 1 and n > answered
    cached.close()



@pytest.mark.mariadb
def test_mariadb_crm_read_only_session(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    server = Server("mariadb", ADMIN_URLS["mariadb"])
    reason = server.unavailable()
    server.close()
    if reason is not None:
        pytest.fail(f"MariaDB is needed for the CRM test: {reason}")
    name = f"crm_{os.urandom(4).hex()}"
    admin = create_engine(ADMIN_URLS["mariadb"], isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
            conn.execute(text(f"CREATE TABLE {name}.contacts (email VARCHAR(200),"
                              " full_name VARCHAR(200), org VARCHAR(200), lang VARCHAR(10),"
                              " pw VARCHAR(200), is_admin TINYINT)"))
            conn.execute(text(f"INSERT INTO {name}.contacts VALUES ('Ann@Example.ORG',"
                              " 'Ann Archer', 'Acme', 'de', NULL, 1)"))
        url = ADMIN_URLS["mariadb"].rstrip("/") + f"/{name}"
        config = config_with(tmp_path, sql_config(tmp_path, url))
        [backend] = backends_from_config(config)
        ann = backend.lookup("ann@example.org")
        assert ann is not None and ann.name == "Ann Archer" and ann.company_admin is True
        for attack in INJECTIONS:
            assert backend.lookup(attack) is None, attack
        sql = SqlBackend(config.customers[0])
        with sql.engine.connect() as conn, pytest.raises(SQLAlchemyError, match="READ ONLY"):
            conn.execute(text("DELETE FROM contacts"))
        sql.close()
        close_all()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()
