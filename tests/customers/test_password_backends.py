"""Where a customer's password is checked (maildesk.customers.login): the table's hash
first, then a CRM's password column, then a simple bind as the customer's entry in a
private slapd; an empty password never reaches the directory; a backend that is down is a
refusal, not an error, and costs no lockout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from maildesk.app import App
from maildesk.customers.directory import close_all
from maildesk.customers.login import check_password
from maildesk.customers.passwords import hash_password
from maildesk.store.models import Customer
from tests.conftest import Desk
from tests.customers.crm import COLUMNS, sqlite_crm
from tests.customers.slapd import BASE, ROOT_DN, PrivateSlapd, running_slapd
from tests.postfix.postfix_helpers import free_port

pytestmark = pytest.mark.backends  # the lockout's row lock and insert on every database

PEOPLE = f"ou=people,{BASE}"
LDIF = f"""\
dn: {BASE}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: {PEOPLE}
objectClass: organizationalUnit
ou: people

dn: uid=ann,{PEOPLE}
objectClass: inetOrgPerson
uid: ann
cn: Ann Archer
sn: Archer
mail: ann@example.org
o: Acme
userPassword: ann's directory password

dn: uid=bob,{PEOPLE}
objectClass: inetOrgPerson
uid: bob
cn: Bob Baker
sn: Baker
mail: bob@example.org
"""


@pytest.fixture(scope="module")
def slapd() -> Iterator[PrivateSlapd]:
    with running_slapd(LDIF) as server:
        yield server


@pytest.fixture(autouse=True)
def _close_backends() -> Iterator[None]:
    yield
    close_all()


def _app(desk: Desk, customers: str) -> App:
    desk.config_path.write_text(desk.config_path.read_text() + customers)
    return desk.app()


def _ldap(url: str, root: Path, password: str) -> str:
    (root / "ldap-password").write_text(password + "\n")
    return (f"customers:\n  backend: ldap\n  url: {url}\n  base_dn: {PEOPLE}\n"
            f"  bind_dn: {ROOT_DN}\n  bind_password_file: ldap-password\n  timeout: 2s\n")


def _failed(app: App, address: str) -> int | None:
    with app.db.reading() as session:
        return session.execute(select(Customer.failed_logins).where(
            Customer.address == address)).scalar_one_or_none()


def test_ldap_binds_as_the_customers_entry(desk: Desk, slapd: PrivateSlapd) -> None:
    app = _app(desk, _ldap(slapd.url, desk.root, slapd.password))
    try:
        assert check_password(app.db, app.config, "Ann@Example.org",
                              "ann's directory password").ok
        wrong = check_password(app.db, app.config, "ann@example.org", "guess")
        assert (wrong.ok, wrong.why) == (False, "wrong")
        assert _failed(app, "ann@example.org") == 1  # counted on a row of maildesk's own
        # An empty password would be an anonymous bind, which slapd accepts: never sent.
        assert not check_password(app.db, app.config, "ann@example.org", "").ok
        # bob has no userPassword: a bind as him fails, like a wrong password
        assert not check_password(app.db, app.config, "bob@example.org", "x").ok
        unknown = check_password(app.db, app.config, "nobody@example.org", "x")
        assert (unknown.ok, unknown.why) == (False, "unknown")
        assert _failed(app, "nobody@example.org") is None
        # filter injection finds nobody to bind as
        assert check_password(app.db, app.config, "*)(uid=*@example.org", "x").why == "unknown"
    finally:
        app.close()


def test_the_tables_hash_comes_first(desk: Desk, slapd: PrivateSlapd) -> None:
    app = _app(desk, _ldap(slapd.url, desk.root, slapd.password))
    try:
        with app.db.transaction() as session:
            session.add(Customer(address="ann@example.org", name="",
                                 password_hash=hash_password("table password")))
        assert check_password(app.db, app.config, "ann@example.org", "table password").ok
        assert not check_password(app.db, app.config, "ann@example.org",
                                  "ann's directory password").ok
    finally:
        app.close()


def test_a_crm_with_clear_text_passwords_lets_nobody_in(desk: Desk, tmp_path: Path) -> None:
    crm = sqlite_crm(tmp_path / "crm.db", [
        ("ann@example.org", "Ann", "Acme", None, "plain text", 0)])
    app = _app(desk, (f"customers:\n  backend: sql\n  url: sqlite:///{crm}\n"
                      f"  table: contacts\n  columns: {COLUMNS}\n"))
    try:
        verdict = check_password(app.db, app.config, "ann@example.org", "plain text")
        assert (verdict.ok, verdict.why) == (False, "wrong")
    finally:
        app.close()


def test_a_directory_that_is_down_refuses_without_counting(desk: Desk) -> None:
    app = _app(desk, _ldap(f"ldap://127.0.0.1:{free_port()}", desk.root, "x"))
    try:
        verdict = check_password(app.db, app.config, "ann@example.org", "anything")
        assert (verdict.ok, verdict.why) == (False, "down")
        assert _failed(app, "ann@example.org") is None
    finally:
        app.close()


def test_concurrent_wrong_passwords_all_count(desk: Desk) -> None:
    """Each wrong password is counted under the row's lock: five at once lock the account."""
    from concurrent.futures import ThreadPoolExecutor

    from maildesk.customers.passwords import MAX_FAILURES

    app = desk.app()
    try:
        with app.db.transaction() as session:
            session.add(Customer(address="ann@example.org", name="",
                                 password_hash=hash_password("right password")))
        with ThreadPoolExecutor(MAX_FAILURES) as pool:
            verdicts = list(pool.map(lambda n: check_password(
                app.db, app.config, "ann@example.org", f"wrong {n}"), range(MAX_FAILURES)))
        assert [v.why for v in verdicts] == ["wrong"] * MAX_FAILURES
        assert check_password(app.db, app.config, "ann@example.org",
                              "right password").why == "locked"
    finally:
        app.close()


def test_the_lockout_follows_the_config(desk: Desk) -> None:
    """`web.password_failures` and `web.password_lockout`: 2 wrong passwords lock for 1m."""
    from datetime import timedelta

    from maildesk.store.models import utcnow

    app = _app(desk, "web:\n  password_failures: 2\n  password_lockout: 1m\n")
    try:
        with app.db.transaction() as session:
            session.add(Customer(address="ann@example.org", name="",
                                 password_hash=hash_password("right password")))
        now = utcnow()
        for _ in range(2):
            assert check_password(app.db, app.config, "ann@example.org", "x", now).why == "wrong"
        assert check_password(app.db, app.config, "ann@example.org", "right password",
                              now + timedelta(seconds=59)).why == "locked"
        assert check_password(app.db, app.config, "ann@example.org", "right password",
                              now + timedelta(seconds=61)).ok
    finally:
        app.close()


def test_a_right_password_of_an_older_form_is_stored_again_as_argon2id(desk: Desk) -> None:
    """openssl passwd -6 -salt Wm2Q5uGf8kLp3sXz 'correct horse', in maildesk's own table."""
    old = ("$6$Wm2Q5uGf8kLp3sXz$.5DLNR699HAa0UJtOGumfG5D.VvuumMXkGCcmI7A03HmYHxYO4nnSqU1Cqjq"
           "lCkVTzSfjwPGOHM7XdLHtLNgJ1")
    app = desk.app()
    try:
        with app.db.transaction() as session:
            session.add(Customer(address="ann@example.org", name="", password_hash=old))
        assert not check_password(app.db, app.config, "ann@example.org", "wrong").ok

        def stored() -> str | None:
            with app.db.reading() as session:
                return session.execute(select(Customer.password_hash).where(
                    Customer.address == "ann@example.org")).scalar_one()

        assert stored() == old  # a wrong password changes nothing
        assert check_password(app.db, app.config, "ann@example.org", "correct horse").ok
        assert (stored() or "").startswith("$argon2id$")
        assert check_password(app.db, app.config, "ann@example.org", "correct horse").ok
    finally:
        app.close()
