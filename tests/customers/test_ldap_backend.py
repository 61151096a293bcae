"""The LDAP backend against a private slapd (tests/customers/slapd.py): the same mapping as
the SQL backend, escaped filters, and BackendDown for every failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest

from maildesk.customers.directory import backends_from_config, close_all
from maildesk.customers.ldap import LdapBackend, ldap_filter
from maildesk.customers.record import BackendDown, CustomerRecord
from tests.customers.crm import config_with
from tests.customers.slapd import BASE, ROOT_DN, PrivateSlapd, running_slapd

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
mail: Ann@Example.ORG
o: Acme
preferredLanguage: de
employeeType: true
userPassword: {{CRYPT}}$6$saltsalt$abcdefghijklmnopqrstuvwxyz

dn: uid=bob,{PEOPLE}
objectClass: inetOrgPerson
uid: bob
cn: Bob Baker
sn: Baker
mail: bob@example.org
o: Acme

dn: uid=carl,{PEOPLE}
objectClass: inetOrgPerson
uid: carl
cn: Carl
sn: C
mail: carl@other.example
"""
ATTACKS = ["*)(uid=*", "*)(uid=*@example.org", "*", "*@example.org", "ann@example.org)(|(mail=*",
           "\\2a@example.org", "bob@example.org\x00"]


@pytest.fixture(scope="module")
def slapd() -> Iterator[PrivateSlapd]:
    with running_slapd(LDIF) as server:
        yield server


@pytest.fixture(autouse=True)
def _close_backends() -> Iterator[None]:
    yield
    close_all()


def ldap_config(tmp_path: Path, url: str, password: str, extra: str = "") -> str:
    (tmp_path / "ldap-password").write_text(password + "\n")
    return (f"customers:\n  backend: ldap\n  url: {url}\n  base_dn: {PEOPLE}\n"
            f"  bind_dn: {ROOT_DN}\n  bind_password_file: ldap-password\n"
            "  filter: (&(objectClass=inetOrgPerson)(mail={address}))\n"
            "  attributes: {password_hash: userPassword, company_admin: employeeType}\n"
            + extra)


def test_directory_entries_are_mapped(tmp_path: Path, slapd: PrivateSlapd) -> None:
    config = config_with(tmp_path, ldap_config(tmp_path, slapd.url, slapd.password))
    [backend] = backends_from_config(config)
    assert backend.name == "ldap"
    assert backend.lookup("ann@example.org") == CustomerRecord(
        address="ann@example.org", name="Ann Archer", company="Acme", language="de",
        password_hash="$6$saltsalt$abcdefghijklmnopqrstuvwxyz", company_admin=True,
        source="ldap")
    assert backend.lookup("BOB@example.org") == CustomerRecord(
        address="bob@example.org", name="Bob Baker", company="Acme", source="ldap")
    assert backend.lookup("nobody@example.org") is None


def test_filter_injection_matches_nobody(tmp_path: Path, slapd: PrivateSlapd) -> None:
    config = config_with(tmp_path, ldap_config(tmp_path, slapd.url, slapd.password))
    [backend] = backends_from_config(config)
    direct = LdapBackend(config.customers[0])  # the escaping itself, without the cache
    for attack in ATTACKS:
        assert backend.lookup(attack) is None, attack
        assert direct.lookup(attack) is None, attack
        assert direct.lookup(attack.replace("@", "") + "@example.org") is None, attack
    direct.close()
    # The same text put into the filter unescaped would have matched every entry.
    conn = ldap3.Connection(slapd.url, ROOT_DN, slapd.password, auto_bind=True)
    try:
        conn.search(PEOPLE, "(&(objectClass=inetOrgPerson)(mail=*)(uid=*))",
                    attributes=["mail"])
        assert len(conn.entries) == 3
        assert ldap_filter("(mail={address})", "*)(uid=*") == "(mail=\\2a\\29\\28uid=\\2a)"
    finally:
        conn.unbind()


def test_anonymous_bind_and_default_attributes(tmp_path: Path, slapd: PrivateSlapd) -> None:
    config = config_with(tmp_path, (
        f"customers:\n  backend: ldap\n  url: {slapd.url}\n  base_dn: {PEOPLE}\n"))
    backend = LdapBackend(config.customers[0])
    try:
        carl = backend.lookup("carl@other.example")
        assert carl == CustomerRecord(address="carl@other.example", name="Carl", source="ldap")
    finally:
        backend.close()


def test_directory_down_or_refusing_is_backend_down(tmp_path: Path, slapd: PrivateSlapd) -> None:
    from tests.postfix.postfix_helpers import free_port

    (tmp_path / "a").mkdir()
    nowhere = config_with(tmp_path / "a", ldap_config(
        tmp_path / "a", f"ldap://127.0.0.1:{free_port()}", "x", "  timeout: 1s\n"))
    down = LdapBackend(nowhere.customers[0])
    with pytest.raises(BackendDown):
        down.lookup("ann@example.org")
    down.close()
    (tmp_path / "b").mkdir()
    wrong = config_with(tmp_path / "b", ldap_config(tmp_path / "b", slapd.url, "wrong"))
    backend = LdapBackend(wrong.customers[0])
    with pytest.raises(BackendDown, match="invalidCredentials"):
        backend.lookup("ann@example.org")
    backend.close()
