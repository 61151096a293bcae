"""Declaring a config key once: `setting()` puts reader, default and doc on a dataclass field.

The loader reads a section by walking its dataclass's fields (`read_section`, `read_items`),
the README reference is checked against the same fields (`maildesk.config.reference`), so a
new key is one `setting(...)` line and nothing else.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from maildesk.config.values import DOMAIN_RE
from maildesk.config.vocabulary import AUTORESPONSE_DEFAULTS, AUTORESPONSE_EVENTS
from maildesk.config.walker import BOOL, FALSE, Entries, Walker, is_null, line_of

Reader = Callable[[Walker, Node, str], Any]
OFF = object()  # a reader's answer for an explicit `null`/`false` that turns a feature off


def setting(
    default: Any = dataclasses.MISSING,
    *,
    read: Reader,
    doc: str,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A config key: `read` turns its YAML node into a value (None: reported, keep the
    default), `doc` is its one-line meaning. No default means required (list items only)."""
    meta = {"read": read, "doc": doc}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def section(cls: type, *, doc: str, aliases: tuple[str, ...] = ()) -> Any:
    """A top-level mapping read into `cls` (a frozen dataclass of `setting` fields).
    `aliases` are other top-level names for the same section (a SPEC name beside the one
    maildesk shipped first): either may be written, both only with the same values."""
    meta = {"section": cls, "doc": doc, "aliases": aliases}
    return dataclasses.field(default_factory=cls, metadata=meta)


def items(cls: type, *, doc: str, title: str, ident: str, unique: bool = False) -> Any:
    """A top-level list of mappings, each read into `cls`; `ident` names an item in messages
    (`queue 'Support': ...` for title `queue '{}'`); `unique` refuses a repeated ident."""
    meta = {"items": cls, "doc": doc, "title": title, "ident": ident, "unique": unique}
    return dataclasses.field(default=(), metadata=meta)


def settings(cls: type) -> list[dataclasses.Field[Any]]:
    """The fields of `cls` that are config keys, in declaration order."""
    return [f for f in dataclasses.fields(cls) if "read" in f.metadata]


def keys(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in settings(cls))


# --------------------------------------------------------------------------- readers


def text(*, empty_ok: bool = False) -> Reader:
    return lambda w, node, where: w.text(node, where, empty_ok=empty_ok)


def boolean(w: Walker, node: Node, where: str) -> bool | None:
    return w.boolean(node, where)


def integer(lo: int = 0, hi: int | None = None) -> Reader:
    return lambda w, node, where: w.integer(node, where, lo, hi)


def parsed(convert: Callable[[Any], Any], show: Callable[[Any], str] | None = None) -> Reader:
    """Through one of `maildesk.config.values`' parsers (sizes, durations, host:port...);
    `show` writes a default back as an admin would (for the key reference)."""

    def read(w: Walker, node: Node, where: str) -> Any:
        return w.converted(node, where, convert)

    read.show = show  # type: ignore[attr-defined]
    return read


def choice(options: Iterable[str]) -> Reader:
    options = tuple(options)
    return lambda w, node, where: w.choice(node, where, options)


def address(w: Walker, node: Node, where: str) -> str | None:
    return w.address(node, where)


def language(w: Walker, node: Node, where: str) -> str | None:
    return w.language(node, where)


def path(w: Walker, node: Node, where: str) -> Path | None:
    return w.path(node, where)


def names(w: Walker, node: Node, where: str) -> tuple[str, ...]:
    """A list of texts (one text is a list of one), duplicates kept in order."""
    return tuple(name for name, _ in w.names(node, where))


def refs(what: str) -> Reader:
    """Names of things another section defines (`w.known[what]`), e.g. an agent's groups."""

    def read(w: Walker, node: Node, where: str) -> tuple[str, ...]:
        found = w.names(node, where)
        known: Any = w.known.get(what)
        for name, item in found if known is not None else ():
            if name not in known:
                w.problem(
                    item,
                    f"{where}: unknown {what.rstrip('s')} '{name}' "
                    f"({what}: {', '.join(known) or 'none defined'})",
                )
        return tuple(name for name, _ in found)

    return read


def endpoint(convert: Callable[[Any], Any]) -> Reader:
    """A listener address, or `null`/`false` to turn the listener off."""

    def read(w: Walker, node: Node, where: str) -> Any:
        if is_null(node) or (
            isinstance(node, ScalarNode) and node.tag == BOOL and node.value in FALSE
        ):
            return OFF
        return w.converted(node, where, convert)

    return read


def domain(w: Walker, node: Node, where: str) -> str | None:
    value = w.text(node, where)
    if value is not None and not DOMAIN_RE.fullmatch(value):
        w.problem(node, f"{where}: not a domain name: {value!r}")
        return None
    return None if value is None else value.lower()


def ticket_hook(w: Walker, node: Node, where: str) -> str | None:
    value = w.text(node, where)
    if value is not None and re.search(r"[\[\]\s]", value):
        w.problem(node, f"{where}: must not contain spaces or brackets: {value!r}")
        return None
    return value


def autoresponse(w: Walker, node: Node, where: str) -> dict[str, bool]:
    """`{new: true, ...}` over the defaults, or one bool for every event."""
    events = dict(AUTORESPONSE_DEFAULTS)
    if isinstance(node, ScalarNode) and node.tag == BOOL:
        return dict.fromkeys(events, bool(w.boolean(node, where)))
    for key, (_, v) in w.mapping(node, where, AUTORESPONSE_EVENTS).items():
        value = w.boolean(v, f"{where}.{key}")
        if value is not None:
            events[key] = value
    return events


# --------------------------------------------------------------------------- generic reading


def read_fields(w: Walker, cls: type, entries: Entries, where: str, sep: str) -> dict[str, Any]:
    """Each present key through its field's reader; failed reads are left out (defaults stay).
    A relative Path default is made relative to the config file, like a written one."""
    readers = {f.name: f.metadata["read"] for f in settings(cls)}
    out: dict[str, Any] = {}
    for key, (_, node) in entries.items():
        value = readers[key](w, node, f"{where}{sep}{key}")
        if value is not None:
            out[key] = None if value is OFF else value
    for f in settings(cls):
        if f.name not in out and isinstance(f.default, Path) and not f.default.is_absolute():
            out[f.name] = w.base / f.default
    return out


def read_section(w: Walker, node: Node, cls: type, where: str) -> tuple[Any, Entries]:
    """A mapping section (`listen:`) into `cls`, with its entries to blame later checks."""
    entries = w.mapping(node, where, keys(cls))
    return cls(**read_fields(w, cls, entries, where, ".")), entries


def read_items(w: Walker, node: Node, key: str, meta: Any) -> list[tuple[Any, Entries]]:
    """A list section (`queues:`) into its item class; items missing a required key or
    whose required value is bad are reported and left out."""
    cls, title, ident = meta["items"], meta["title"], meta["ident"]
    required = [
        f.name
        for f in settings(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    has_line = any(f.name == "line" for f in dataclasses.fields(cls))
    seen: dict[str, int] = {}
    out: list[tuple[Any, Entries]] = []
    for i, item in enumerate(w.sequence(node, key)):
        entries = w.mapping(item, f"{key}[{i}]", keys(cls))
        if not isinstance(item, MappingNode):
            continue
        where = f"{key}[{i}]"
        inode = entries[ident][1] if ident in entries else None
        if isinstance(inode, ScalarNode) and not is_null(inode) and inode.value.strip():
            where = title.format(inode.value)
        for name in required:
            if name not in entries:
                w.problem(item, f"{where}: missing required key '{name}'")
        kw = read_fields(w, cls, entries, where, ": ")
        if meta["unique"] and inode is not None and ident in kw:
            first = seen.setdefault(kw[ident], line_of(inode))
            if first != line_of(inode):
                w.problem(
                    inode, f"{where}: duplicate {title.split()[0]} {ident} (first on line {first})"
                )
        if any(name not in kw for name in required):
            continue
        out.append((cls(**kw, **({"line": line_of(item)} if has_line else {})), entries))
    return out
