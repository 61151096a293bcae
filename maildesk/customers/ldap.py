"""Customers in an LDAP directory (ldap3): the same field mapping as the SQL backend, with
attributes (`mail`, `cn`, `o`, `preferredLanguage` by default) in place of columns.

The address goes into the configured filter escaped (RFC 4515: `*`, `(`, `)`, `\\` and NUL
as `\\2a`...), so `*)(uid=*` is a literal that matches nobody; a search finding more than
one entry takes the first. Only searches are sent (the bind is the configured reader's or
anonymous). One connection per worker thread, reopened after a failure; every failure is
BackendDown.
"""

from __future__ import annotations

import threading
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from maildesk.config.customers import CustomerBackend
from maildesk.customers.record import BackendDown, CustomerRecord, usable_address
from maildesk.customers.sql import truthy

__all__ = ["LdapBackend", "ldap_filter"]

_OK = (0, 4)  # success, sizeLimitExceeded (more than one entry: the first is taken)


def ldap_filter(template: str, address: str) -> str:
    """The configured filter with the address escaped into it."""
    return template.replace("{address}", escape_filter_chars(address))


class LdapBackend:
    def __init__(self, cfg: CustomerBackend) -> None:
        self.name = cfg.label
        self.fields = dict(cfg.attributes)
        self.base_dn = cfg.base_dn or ""
        self.template = cfg.filter
        self.timeout = cfg.timeout
        self.bind_dn = cfg.bind_dn
        self.password: str | None = None
        if cfg.bind_password_file is not None:
            lines = cfg.bind_password_file.read_text(encoding="utf-8").splitlines()
            self.password = lines[0] if lines else ""
        self.server = ldap3.Server(
            cfg.url, connect_timeout=max(1, round(cfg.timeout)), get_info=ldap3.NONE
        )
        self._local = threading.local()
        self._all: list[ldap3.Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> ldap3.Connection:
        conn: ldap3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed:
            return conn
        conn = ldap3.Connection(
            self.server, user=self.bind_dn, password=self.password,
            receive_timeout=max(1, round(self.timeout)), read_only=True,
            raise_exceptions=False,
        )
        try:
            bound = conn.bind()
        except LDAPException:
            _discard(conn)
            raise
        if not bound:
            result = conn.result or {}
            _discard(conn)
            raise BackendDown(f"bind refused: {result.get('description')}")
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)
            _discard(conn)

    def lookup(self, address: str) -> CustomerRecord | None:
        found = self.entry(address)
        return found[1] if found is not None else None

    def entry(self, address: str) -> tuple[str, CustomerRecord] | None:
        """The customer's entry: its DN (what a password login binds as) and its record."""
        usable = usable_address(address)
        if usable is None:
            return None
        address = usable
        try:
            conn = self._connection()
            conn.search(
                self.base_dn, ldap_filter(self.template, address),
                search_scope=ldap3.SUBTREE, attributes=sorted(set(self.fields.values())),
                size_limit=1, time_limit=max(1, round(self.timeout)),
            )
        except LDAPException as exc:
            self._drop()
            raise BackendDown(str(exc)) from exc
        result = conn.result or {}
        if result.get("result") not in _OK:
            self._drop()
            raise BackendDown(
                f"search failed: {result.get('description')} "
                f"{result.get('message') or ''}".strip()
            )
        for entry in conn.response or ():
            if entry.get("type") == "searchResEntry":
                return str(entry.get("dn") or ""), self._record(
                    entry.get("attributes") or {}, address)
        return None

    def _record(self, attrs: Any, address: str) -> CustomerRecord:
        lowered = {k.lower(): v for k, v in dict(attrs).items()}

        def get(field: str) -> str | None:
            attr = self.fields.get(field)
            value = lowered.get(attr.lower()) if attr else None
            if isinstance(value, list | tuple):
                value = value[0] if value else None
            if isinstance(value, bytes):
                value = value.decode(errors="replace")
            text = None if value is None else str(value).strip()
            return text or None

        password = get("password_hash")
        if password is not None and password[:7].upper() == "{CRYPT}":
            password = password[7:]  # userPassword's scheme tag: the crypt(3) hash follows
        return CustomerRecord(
            address=address,
            name=get("name"),
            company=get("company"),
            language=get("language"),
            password_hash=password,
            company_admin=truthy(get("company_admin") or ""),
            source="ldap",
        )

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            _discard(conn)


def _discard(conn: ldap3.Connection) -> None:
    """Unbind, and close the socket ldap3 leaves open when connecting failed."""
    try:
        conn.unbind()
    except LDAPException:
        pass
    sock = getattr(conn, "socket", None)
    if sock is not None:
        sock.close()
