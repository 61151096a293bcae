"""CRM databases for the directory tests: a customer table with the CRM's own column names
(`email`, `full_name`, `org`, `lang`, `pw`, `is_admin`), in a SQLite file or in a private
schema of the PostgreSQL test server (dropped afterwards; maildesk's tables are not touched).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import textwrap
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text

from maildesk.config import Config, load_config
from tests.conftest import ADMIN_URLS

ROWS = [
    ("Ann@Example.ORG", "Ann Archer", "Acme", "de", "$2b$12$abcdefghijklmnopqrstuv", 1),
    ("bob@example.org", "Bob Baker", "Acme", None, None, 0),
    ("carl@other.example", "Carl", None, "fr", None, 0),
]
COLUMNS = ("{address: email, name: full_name, company: org, language: lang, "
           "password_hash: pw, company_admin: is_admin}")


def sqlite_crm(path: Path, rows: list[tuple[object, ...]] | None = None) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT, full_name TEXT,"
                 " org TEXT, lang TEXT, pw TEXT, is_admin INTEGER)")
    conn.executemany("INSERT INTO contacts (email, full_name, org, lang, pw, is_admin)"
                     " VALUES (?, ?, ?, ?, ?, ?)", rows if rows is not None else ROWS)
    conn.commit()
    conn.close()
    return path


def checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def postgres_crm() -> Iterator[tuple[str, str]]:
    """(database URL, schema.table) of a fresh CRM table on the PostgreSQL test server."""
    admin = ADMIN_URLS["postgresql"]
    schema = f"crm_{secrets.token_hex(4)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
            conn.execute(text(
                f"CREATE TABLE {schema}.people (id serial PRIMARY KEY, \"E-Mail\" text,"
                " full_name text, org text, lang text, pw text, is_admin boolean)"))
            for row in ROWS:
                conn.execute(text(
                    f"INSERT INTO {schema}.people (\"E-Mail\", full_name, org, lang, pw, is_admin)"
                    " VALUES (:a, :b, :c, :d, :e, :f)"),
                    dict(zip("abcdef", (*row[:5], bool(row[5])), strict=True)))
        yield admin, f"{schema}.people"
    finally:
        with engine.connect() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()


def config_with(folder: Path, customers: str) -> Config:
    """A minimal config whose `customers:` section is `customers` (YAML text)."""
    path = folder / "maildesk.yaml"
    path.write_text(textwrap.dedent("""\
        database: sqlite:///var/maildesk.db
        queues:
          - name: Support
            address: support@example.com
        """) + customers)
    return load_config(path)
