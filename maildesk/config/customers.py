"""`customers:` (SPEC 16): directories of customers outside maildesk's own table, asked in
order after it. One backend is a mapping, several are a list:

    customers: {backend: sql, url: "postgresql://crm/crm", table: contacts,
                columns: {address: email, name: full_name, company: org}}

The keys are declared once on `CustomerBackend`; `read_customers` reads the mapping-or-list
shape and checks what depends on the kind (a SQL backend needs a table and an address
column, an LDAP backend a base DN), blaming the line of the key at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yaml.nodes import MappingNode, Node, SequenceNode

from maildesk.config import fields as f
from maildesk.config.fields import read_items
from maildesk.config.values import parse_duration, show_duration
from maildesk.config.walker import Walker

__all__ = [
    "BACKEND_KINDS",
    "LDAP_DEFAULT_ATTRIBUTES",
    "RECORD_FIELDS",
    "CustomerBackend",
    "read_customers",
]

BACKEND_KINDS = ("sql", "ldap")
# CustomerRecord's fields a backend may map (maildesk.customers.record)
RECORD_FIELDS = ("address", "name", "company", "language", "password_hash", "company_admin")
LDAP_DEFAULT_ATTRIBUTES = {
    "address": "mail",
    "name": "cn",
    "company": "o",
    "language": "preferredLanguage",
}
_LDAP_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+")
_duration = f.parsed(parse_duration, show_duration)


def _field_map(w: Walker, node: Node, where: str) -> dict[str, str] | None:
    """`{address: email, name: full_name, ...}`: maildesk's field -> the CRM's name for it."""
    out: dict[str, str] = {}
    for key, (_, vnode) in w.mapping(node, where, RECORD_FIELDS).items():
        value = w.text(vnode, f"{where}.{key}")
        if value is not None:
            out[key] = value.strip()
    return out


def _attribute_map(w: Walker, node: Node, where: str) -> dict[str, str] | None:
    """Like columns, over the defaults (mail, cn, o, preferredLanguage)."""
    given = _field_map(w, node, where)
    return None if given is None else {**LDAP_DEFAULT_ATTRIBUTES, **given}


_attribute_map.show = lambda d: ", ".join(f"{k}: {v}" for k, v in d.items())  # type: ignore[attr-defined]


def _url(value: Any) -> str:
    text = str(value).strip()
    if not re.match(r"[A-Za-z][A-Za-z0-9+.\-]*://", text):
        raise ValueError(
            f"not a URL: {value!r} (sql: an SQLAlchemy URL like postgresql://host/crm, "
            "ldap: ldap://host:389 or ldaps://host:636)"
        )
    return text


def _filter(value: Any) -> str:
    text = str(value).strip()
    if "{address}" not in text:
        raise ValueError(f"must contain {{address}}, e.g. (mail={{address}}): {value!r}")
    if text.count("(") != text.count(")") or not text.startswith("("):
        raise ValueError(f"not an LDAP filter in parentheses: {value!r}")
    return text


@dataclass(frozen=True)
class CustomerBackend:
    """One directory of customers: a read-only SQL table or an LDAP subtree."""

    backend: str = f.setting(read=f.choice(BACKEND_KINDS), doc="sql | ldap")
    url: str = f.setting(
        read=f.parsed(_url), doc="sql: an SQLAlchemy URL (read only); ldap: ldap://host:port"
    )
    name: str | None = f.setting(
        None, read=f.text(), doc="its name in logs and metrics (default: the backend kind)"
    )
    password_file: Path | None = f.setting(
        None, read=f.path, doc="sql: a file holding the database password (not in the URL)"
    )
    table: str | None = f.setting(
        None, read=f.text(), doc="sql: the CRM's table (or schema.table)"
    )
    columns: dict[str, str] = f.setting(
        read=_field_map, factory=dict,
        doc="sql: {address, name, company, language, password_hash, company_admin} -> column",
    )
    base_dn: str | None = f.setting(None, read=f.text(), doc="ldap: where customers are searched")
    bind_dn: str | None = f.setting(
        None, read=f.text(), doc="ldap: who to bind as (else anonymous)"
    )
    bind_password_file: Path | None = f.setting(
        None, read=f.path, doc="ldap: a file holding the bind password"
    )
    filter: str = f.setting(
        "(mail={address})", read=f.parsed(_filter),
        doc="ldap: the search filter; {address} is filled in escaped",
    )
    attributes: dict[str, str] = f.setting(
        read=_attribute_map, factory=lambda: dict(LDAP_DEFAULT_ATTRIBUTES),
        doc="ldap: the fields of columns -> attribute (default mail, cn, o, preferredLanguage)",
    )
    cache_ttl: float = f.setting(
        300.0, read=_duration, doc="an answer (also \"no such customer\") is reused this long"
    )
    cache_size: int = f.setting(
        10000, read=f.integer(1), doc="at most this many addresses cached (oldest dropped)"
    )
    timeout: float = f.setting(
        2.0, read=_duration,
        doc="no answer within this: \"unknown for now\" (the answer still fills the cache)",
    )
    retry_after: float = f.setting(
        30.0, read=_duration, doc="after the backend failed, ask it again only after this"
    )
    line: int = field(default=0)

    @property
    def label(self) -> str:
        """Its name in logs and metrics."""
        return self.name or self.backend


def read_customers(w: Walker, node: Node, meta: Any) -> tuple[CustomerBackend, ...]:
    """A mapping (one backend) or a list (several, asked in order); kind checks after."""
    if isinstance(node, MappingNode):
        node = SequenceNode("tag:yaml.org,2002:seq", [node], node.start_mark, node.end_mark)
    out: list[CustomerBackend] = []
    names: dict[str, int] = {}
    for backend, entries in read_items(w, node, "customers", meta):
        where = f"customers backend {backend.label}"
        problems = len(w.problems)
        if backend.backend == "sql":
            _check_sql(w, backend, entries, where)
        else:
            _check_ldap(w, backend, entries, where)
        if backend.label in names:
            blame = entries["name"][1] if "name" in entries else entries["backend"][1]
            w.problem(
                blame,
                f"{where}: two backends named {backend.label!r} (first on line "
                f"{names[backend.label]}): give each a different name",
            )
        names.setdefault(backend.label, backend.line)
        if len(w.problems) == problems:
            out.append(backend)
    return tuple(out)


_SQL_ONLY = ("table", "columns", "password_file")
_LDAP_ONLY = ("base_dn", "bind_dn", "bind_password_file", "filter", "attributes")


def _check_sql(w: Walker, b: CustomerBackend, entries: Any, where: str) -> None:
    for key in _LDAP_ONLY:
        if key in entries:
            w.problem(entries[key][0], f"{where}: '{key}' is for ldap backends")
    if not b.url.partition(":")[0].startswith(("sqlite", "postgresql", "mysql", "mariadb")):
        w.problem(entries["url"][1], f"{where}: url: not a database URL: {b.url!r}")
    if "table" not in entries:
        w.problem(entries["backend"][1], f"{where}: missing required key 'table'")
    if "columns" in entries and "address" not in b.columns:
        w.problem(entries["columns"][1], f"{where}: columns: 'address' is required")
    elif "columns" not in entries:
        w.problem(
            entries["backend"][1], f"{where}: missing required key 'columns' (at least address)"
        )


def _check_ldap(w: Walker, b: CustomerBackend, entries: Any, where: str) -> None:
    for key in _SQL_ONLY:
        if key in entries:
            w.problem(entries[key][0], f"{where}: '{key}' is for sql backends")
    if not b.url.lower().startswith(("ldap://", "ldaps://")):
        w.problem(entries["url"][1], f"{where}: url: not ldap:// or ldaps://: {b.url!r}")
    if "base_dn" not in entries:
        w.problem(entries["backend"][1], f"{where}: missing required key 'base_dn'")
    if ("bind_dn" in entries) != ("bind_password_file" in entries):
        key = "bind_dn" if "bind_dn" in entries else "bind_password_file"
        w.problem(entries[key][0], f"{where}: bind_dn and bind_password_file go together")
    if "attributes" in entries:
        for key, attr in b.attributes.items():
            if not _LDAP_ATTRIBUTE.fullmatch(attr):
                w.problem(
                    entries["attributes"][1],
                    f"{where}: attributes.{key}: not an LDAP attribute name: {attr!r}",
                )
