"""Shared fixtures: a real config file in a temporary folder, a migrated database, the CLI
run as a real subprocess (as an MTA or an admin would run it).

Database backends: `desk` and `desk_factory` use SQLite unless a test opts in to the
backends (the `backends` marker, or a module under BACKEND_PATHS); then they run once per
selected backend (`--db` / `$MAILDESK_TEST_DATABASES`: `auto` (default: all three, a
service that is not reachable is skipped with the reason), or a list such as
`sqlite,postgresql` (a listed service that is not reachable fails the run)).
Each run creates its own databases `maildesk_test_<random>_<n>` and drops them at the end;
a test gets one emptied, migrated database per desk it makes.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from maildesk.app import App, ensure_secret, open_app
from maildesk.config import Config, load_config
from maildesk.intake.message import Envelope
from maildesk.store.db import Database
from maildesk.store.migrate import upgrade
from maildesk.store.models import Base

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "emails"
# The shared corpus of real mails: MAILDESK_CORPUS, by default `shared/corpus` beside the
# checkout (where CI lays it). Missing, its tests skip with the path in the reason; under CI
# (`CI` set) a missing corpus stops the run instead (pytest_configure below).
CORPUS = Path(os.environ.get("MAILDESK_CORPUS") or REPO.parent / "shared" / "corpus")
CORPUS_FOUND = CORPUS.is_dir()
needs_corpus = pytest.mark.skipif(
    not CORPUS_FOUND, reason=f"no mail corpus at {CORPUS}: set MAILDESK_CORPUS")


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")

BASE_CONFIG = """\
instance:
  name: Example Support
  system_id: 10
  secret_file: ./var/secret
database: {database}
storage:
  path: ./var
  articles: {articles}
listen:
  smtp: 127.0.0.1:0
outbound:
  relay: 127.0.0.1:{relay_port}
  bounce_address: bounces@example.com
queues:
  - name: Support
    address: support@example.com
    display_name: Example Support
    language: en
    group: support
    on_closed_followup: reopen
  - name: Billing
    address: billing@example.com
    display_name: Example Billing
    group: billing
    on_closed_followup: new_ticket
  - name: Sales
    address: sales@example.com
    group: support
    on_closed_followup: reject
  - name: Junk
    address: junk@example.com
    group: support
groups:
  support:
    Support: [read, note, reply, move, priority, lock, owner, close, merge]
    Sales: [read, note, reply, move, priority, lock, owner, close, merge]
    Junk: [read, move]
  billing:
    Billing: [read, note, reply, move, priority, lock, close]
agents:
  - address: alice@example.com
    name: Alice Example
    groups: [support, billing]
  - address: bob@example.com
    name: Bob Example
    groups: [billing]
rules:
  - name: invoices go to billing
    match: {{subject: {{regex: "(?i)invoice|factura|rechnung"}}}}
    set: {{queue: Billing, priority: 4}}
  - name: spam
    match: {{header: {{X-Spam-Flag: "YES"}}}}
    set: {{queue: Junk}}
    autoresponse: false
    stop: true
  - name: drop the known spammer
    match: {{from: "*@spam.example.net"}}
    ignore: true
  - name: refuse the blocked sender
    match: {{from: "blocked@example.org"}}
    reject: "We do not accept mail from you."
"""


def mail_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def simple_mail(
    subject: str = "Printer on fire",
    sender: str = "carol@example.org",
    to: str = "support@example.com",
    body: str = "Hello,\nthe printer is on fire.\n",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    import uuid

    lines = [
        f"From: Carol Customer <{sender}>",
        f"To: {to}",
        f"Subject: {subject}",
        f"Message-ID: <{message_id or uuid.uuid4().hex + '@example.org'}>",
        "Date: Wed, 25 Nov 2026 10:00:00 +0000",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()


@dataclass
class Desk:
    """A maildesk instance in a temporary folder, driven like an admin would drive it."""

    root: Path
    config_path: Path

    @property
    def config(self) -> Config:
        return load_config(self.config_path)

    def app(self) -> App:
        return open_app(self.config)

    def cli(self, *args: str, input: bytes | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "maildesk", "--config", str(self.config_path), *args],
            input=input, capture_output=True, timeout=120, cwd=self.root,
            env={**os.environ, **(env or {})},
        )

    def deliver(self, raw: bytes, sender: str = "carol@example.org",
                recipients: tuple[str, ...] = ("support@example.com",)) -> int:
        args = ["deliver", "--sender", sender]
        for r in recipients:
            args += ["--recipient", r]
        return self.cli(*args, input=raw).returncode

    def ingest(self, raw: bytes, sender: str = "carol@example.org",
               recipients: tuple[str, ...] = ("support@example.com",)):  # noqa: ANN201
        app = self.app()
        try:
            return app.ingest(raw, Envelope(sender=sender, recipients=recipients))
        finally:
            app.close()

    def show(self, number: str) -> dict:
        result = self.cli("show", number, "--json")
        assert result.returncode == 0, result.stderr.decode()
        return json.loads(result.stdout)

    def tickets(self, *args: str) -> list[dict]:
        result = self.cli("tickets", "--json", *args)
        assert result.returncode == 0, result.stderr.decode()
        return json.loads(result.stdout)


def make_desk(root: Path, *, database: str | None = None, articles: str = "filesystem",
              relay_port: int = 2, extra: str = "") -> Desk:
    root.mkdir(parents=True, exist_ok=True)
    database = database or "sqlite:///./var/maildesk.db"
    text = BASE_CONFIG.format(database=database, articles=articles, relay_port=relay_port)
    config_path = root / "maildesk.yaml"
    config_path.write_text(text + textwrap.dedent(extra))
    config = load_config(config_path)
    ensure_secret(config.instance.secret_file)
    app = open_app(config)
    upgrade(app.db)
    app.close()
    return Desk(root, config_path)



# -- database backends --------------------------------------------------------------------

BACKENDS = ("sqlite", "postgresql", "mariadb")
# Modules whose `desk` runs on every selected backend without a marker of their own.
# (tests/agents stays on SQLite: it would add a minute per backend for code paths the
# commands tests already drive through the database.)
BACKEND_PATHS = ("tests/test_pipeline.py", "tests/store/", "tests/commands/", "tests/db/")
ADMIN_URLS = {
    "postgresql": os.environ.get("MAILDESK_TEST_POSTGRESQL",
                                 "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    "mariadb": os.environ.get("MAILDESK_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/"),
}
# Tests of opted-in modules that only make sense on SQLite, with the reason shown on skip.
SQLITE_ONLY = {
    "tests/test_pipeline.py::test_database_away_spools_and_drains_in_order":
        "simulates the outage by moving the SQLite file; tests/db/test_daemons.py drills "
        "a stopped PostgreSQL",
}
SERVICE_HINT = {
    "postgresql": "start it (.ci/run does) or run with --db sqlite",
    "mariadb": "start it (.ci/run does) or run with --db sqlite",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db", default=os.environ.get("MAILDESK_TEST_DATABASES", "auto"),
        help="backends for the storage, pipeline and command tests: auto (all three, skip "
             "those not reachable) or a comma list of sqlite,postgresql,mariadb (required)")


@pytest.fixture(autouse=True)
def _close_raw_smtp_clients() -> Iterator[None]:
    """Raw SMTP clients (tests/smtp/smtp_helpers.py, used by smtp, drills and postfix tests)
    are closed after each test: a socket left to the garbage collector is a ResourceWarning,
    an error under filterwarnings, in whichever test the collector happens to run."""
    yield
    helpers = sys.modules.get("smtp_helpers")
    if helpers is not None:
        helpers.Client.close_all()


def pytest_report_header(config: pytest.Config) -> str:
    found = "found" if CORPUS_FOUND else "MISSING: its tests skip (set MAILDESK_CORPUS)"
    return f"mail corpus: {CORPUS} ({found})"


def pytest_configure(config: pytest.Config) -> None:
    if not CORPUS_FOUND and under_ci():
        raise pytest.UsageError(
            f"the mail corpus is not at {CORPUS}: set MAILDESK_CORPUS (CI must not skip "
            "the corpus tests)")
    config.addinivalue_line(
        "markers", "backends(*names): run the test's desk on each selected database backend "
                   "(all three, or only the named ones)")


def selected_backends(config: pytest.Config) -> tuple[list[str], bool]:
    """The backends asked for, and whether they are required (an explicit list) or not."""
    value = str(config.getoption("--db")).strip().lower()
    if value in ("", "auto"):
        return list(BACKENDS), False
    names = [n.strip() for n in value.split(",") if n.strip()]
    names = ["mariadb" if n in ("mysql", "maria") else "postgresql" if n in ("pg", "postgres")
             else n for n in names]
    unknown = sorted(set(names) - set(BACKENDS))
    if unknown:
        raise pytest.UsageError(f"--db: unknown backend(s) {unknown}; known: {BACKENDS}")
    return names, True


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backends")
    rel = Path(str(metafunc.definition.path)).resolve().relative_to(REPO).as_posix()
    if marker is None and not rel.startswith(BACKEND_PATHS):
        return  # SQLite only, through the fixture's default
    wanted = list(marker.args) if marker is not None and marker.args else list(BACKENDS)
    selected, _ = selected_backends(metafunc.config)
    only = SQLITE_ONLY.get(f"{rel}::{metafunc.definition.originalname}")
    params = [pytest.param(name, id=name, marks=[pytest.mark.skip(reason=only)]
                           if only and name != "sqlite" else [])
              for name in wanted if name in selected]
    if not params:  # say so rather than drop the test without a word
        params = [pytest.param(name, id=name, marks=pytest.mark.skip(
            reason=f"{name} not selected (--db / MAILDESK_TEST_DATABASES)")) for name in wanted]
    metafunc.parametrize("backend", params, indirect=True)


class Server:
    """One database service for this test run: its own databases, created and dropped here."""

    def __init__(self, name: str, admin_url: str) -> None:
        self.name = name
        self.admin_url = admin_url
        self.prefix = f"maildesk_test_{secrets.token_hex(4)}"
        self.created: list[str] = []
        self.slots: dict[int, tuple[str, Engine]] = {}
        self._admin: Engine | None = None
        self._reason: str | None = None
        self._checked = False

    def unavailable(self) -> str | None:
        """Why the service cannot be used, or None; asked once per run."""
        if not self._checked:
            self._checked = True
            try:
                self._admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT",
                                            connect_args={"connect_timeout": 3})
                with self._admin.connect() as conn:
                    conn.execute(text("SELECT 1"))
            except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                self._reason = (f"{self.name} not reachable at {self.admin_url}: {first[:200]}"
                                f" ({SERVICE_HINT[self.name]})")
        return self._reason

    def url(self, database: str) -> str:
        base = self.admin_url.rsplit("/", 1)[0]
        query = "?charset=utf8mb4" if self.name == "mariadb" else ""
        return f"{base}/{database}{query}"

    def create(self, *, migrate: bool = True) -> str:
        """A new database (migrated unless asked otherwise); returns its URL."""
        assert self._admin is not None
        name = f"{self.prefix}_{len(self.created)}"
        with self._admin.connect() as conn:
            if self.name == "mariadb":
                conn.execute(text(f"CREATE DATABASE `{name}` "
                                  "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
            else:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        url = self.url(name)
        if migrate:
            db = Database(url)
            try:
                upgrade(db)
            finally:
                db.dispose()
        return url

    def slot(self, index: int) -> str:
        """The index-th database of this run, emptied (schema kept) for the test at hand."""
        if index not in self.slots:
            url = self.create()
            self.slots[index] = (url, create_engine(url))
            return url
        url, engine = self.slots[index]
        with engine.begin() as conn:
            if self.name == "mariadb":
                conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
            if self.name == "mariadb":
                conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))
        return url

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1].split("?", 1)[0]
        assert self._admin is not None
        with self._admin.connect() as conn:
            if self.name == "mariadb":
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
            else:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        for _, engine in self.slots.values():
            engine.dispose()
        for name in list(self.created):
            try:
                self.drop(self.url(name))
            except Exception as exc:  # noqa: BLE001 - report, keep dropping the others
                print(f"could not drop test database {name}: {exc}", file=sys.stderr)
        if self._admin is not None:
            self._admin.dispose()


@pytest.fixture(scope="session")
def db_servers() -> Iterator[dict[str, Server]]:
    servers = {name: Server(name, url) for name, url in ADMIN_URLS.items()}
    yield servers
    for server in servers.values():
        server.close()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this test: `sqlite` unless parametrised (see the module doc)."""
    name = getattr(request, "param", "sqlite")
    if name != "sqlite":
        server(request, name)
    return name


def server(request: pytest.FixtureRequest, name: str) -> Server:
    """The service behind `name`; skips (or fails, when it was asked for by name) if down."""
    srv: Server = request.getfixturevalue("db_servers")[name]
    reason = srv.unavailable()
    if reason is not None:
        _, required = selected_backends(request.config)
        if required:
            pytest.fail(reason + " (asked for with --db / MAILDESK_TEST_DATABASES)")
        pytest.skip(reason)
    return srv


@pytest.fixture
def database_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    """A migrated, empty database of this test's backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/maildesk.db"
    return server(request, backend).slot(0)


@pytest.fixture
def empty_database(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[str]:
    """A database of this test's backend with no schema at all (migration tests)."""
    if backend == "sqlite":
        sqlite3.connect(tmp_path / "empty.db").close()  # empty, but there: maildesk never
        yield f"sqlite:///{tmp_path}/empty.db"           # creates a database on open
        return
    srv = server(request, backend)
    url = srv.create(migrate=False)
    yield url
    srv.drop(url)


def desks_of(make: Callable[..., Desk], request: pytest.FixtureRequest, folder: Path,
             backend: str) -> Callable[..., Desk]:
    """A factory of desks made by `make`, each in its own folder and (on a server backend)
    its own database slot, unless the caller names a database."""
    counter = iter(range(1000))

    def factory(**kwargs: object) -> Desk:
        n = next(counter)
        if backend != "sqlite" and kwargs.get("database") is None:
            kwargs["database"] = server(request, backend).slot(n)
        return make(folder / f"desk{n}", **kwargs)

    return factory


@pytest.fixture
def desk(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Iterator[Desk]:
    database = None if backend == "sqlite" else server(request, backend).slot(0)
    yield make_desk(tmp_path / "desk", database=database)


@pytest.fixture
def desk_factory(request: pytest.FixtureRequest, tmp_path: Path,
                 backend: str) -> Callable[..., Desk]:
    return desks_of(make_desk, request, tmp_path, backend)


class _OutboundFailures(logging.Handler):
    """Collects the ERROR records of mails maildesk could not build (outbound/failures.py)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "outbound_failure", False):
            self.records.append(record)


@pytest.fixture(autouse=True)
def _no_unexpected_outbound_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """An auto-response or notification that could not be built is a bug somewhere (a
    template, an address check): every test fails on one unless it is marked
    `outbound_failure`, because it expects it."""
    handler = _OutboundFailures()
    logger = logging.getLogger("maildesk.outbox")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    if handler.records and request.node.get_closest_marker("outbound_failure") is None:
        pytest.fail("unexpected outbound build failure: "
                    + "; ".join(r.getMessage() for r in handler.records), pytrace=False)
