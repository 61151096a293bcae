"""Finding and loading maildesk.yaml: sections in dependency order, then cross-checks.

Plain sections and lists declared in `model.Config` with `section()`/`items()` are read
generically; only what refers to other sections (groups -> queues, agents -> groups, rules
-> queues and agents, the derived domain and bounce address) has code here.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import Node, ScalarNode, SequenceNode

from maildesk.config.customers import read_customers
from maildesk.config.fields import read_items, read_section
from maildesk.config.mailboxes import read_mailboxes
from maildesk.config.model import Agent, Config, Queue
from maildesk.config.rules import read_rules
from maildesk.config.timing import check_levels, read_calendars
from maildesk.config.vocabulary import PERMISSIONS
from maildesk.config.walker import NULL, Entries, Walker, absolute, is_null, line_of
from maildesk.errors import MaildeskError

TOP_KEYS = tuple(f.name for f in dataclasses.fields(Config) if f.metadata)
# Other names of sections (`knowledge_base:` for `kb:`, SPEC 18's name): accepted on top.
ALIASES = tuple(a for f in dataclasses.fields(Config) for a in f.metadata.get("aliases", ()))


class ConfigError(MaildeskError):
    """One or more problems in a config file; each message is `file:line: text`."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


def find_config(explicit: str | None) -> Path:
    """SPEC 10: --config, else $MAILDESK_CONFIG, else ./maildesk.yaml, else /etc/maildesk.

    A path the admin named (--config or the variable) is returned even when missing:
    silently falling back to another file would run the wrong config. When no file
    exists at all, ./maildesk.yaml is returned so the caller can name it (and `init`
    writes it there)."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("MAILDESK_CONFIG")
    if env:
        return Path(env).expanduser()
    candidates = (Path("maildesk.yaml"), Path("/etc/maildesk/maildesk.yaml"))
    return next((c for c in candidates if c.is_file()), candidates[0])


def load_config(path: Path) -> Config:
    """Read and validate a config; every problem is reported at once, never just the first.

    Raises ConfigError whose messages are `path:line: message`, sorted by line (a file
    that cannot be read at all gives `path: message`)."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([f"{name}: cannot read config: {exc.strerror or exc}"]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError([f"{name}:{line}: not UTF-8 text: {exc.reason}"]) from None
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        detail = "; ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError([f"{name}:{line}: YAML syntax error: {detail}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{name}:1: YAML error: {exc}"]) from None
    finally:
        loader.dispose()
    if root is None:
        raise ConfigError([f"{name}:1: the config is empty; at least one queue is required"])
    full = Path(path).expanduser().absolute()
    walker = Walker(loader, full.parent)
    config = _build(walker, root, full)
    if walker.problems or config is None:
        problems = sorted(walker.problems, key=lambda p: p[0])
        raise ConfigError([f"{name}:{line}: {message}" for line, message in problems])
    return config


def _build(w: Walker, root: Node, path: Path) -> Config | None:
    top = w.mapping(root, "config", TOP_KEYS + ALIASES)
    null = ScalarNode(NULL, "", root.start_mark, root.end_mark)

    def node(key: str) -> Node:
        return top[key][1] if key in top else null

    meta = {f.name: f.metadata for f in dataclasses.fields(Config)}
    kw: dict[str, Any] = {}
    entries: dict[str, Entries] = {}
    for key in TOP_KEYS:  # plain sections and lists need no code of their own
        if "section" in meta[key]:
            kw[key], entries[key] = _read_aliased(w, top, key, meta[key], null)
        elif "items" in meta[key] and key == "customers":  # a mapping or a list
            kw[key] = read_customers(w, node(key), meta[key])
        elif "items" in meta[key] and key not in ("queues", "agents"):
            kw[key] = tuple(item for item, _ in read_items(w, node(key), key, meta[key]))

    _check_listen(w, entries["listen"], kw["listen"])
    calendars = read_calendars(w, node("calendars"), kw["instance"].timezone)
    w.known["calendars"] = calendars
    qnode = node("queues")
    queue_entries = read_items(w, qnode, "queues", meta["queues"])
    if is_null(qnode) or (isinstance(qnode, SequenceNode) and not qnode.value):
        w.problem(
            top["queues"][0] if "queues" in top else root, "queues: at least one queue is required"
        )
    queues = [q for q, _ in queue_entries]
    check_levels(w, queue_entries)
    groups = _groups(w, node("groups"), queues)
    w.known["groups"] = groups
    agent_entries = read_items(w, node("agents"), "agents", meta["agents"])
    agents = [a for a, _ in agent_entries]
    for q, qentries in queue_entries:
        if q.group is not None and q.group not in groups:
            known = ", ".join(groups) or "none defined"
            blame = qentries["group"][1]
            w.problem(blame, f"queue '{q.name}': unknown group '{q.group}' (groups: {known})")

    if "domain" not in entries["instance"]:
        domain = queues[0].address.partition("@")[2] if queues else "localhost"
        kw["instance"] = replace(kw["instance"], domain=domain)
    out_entries = entries["outbound"]
    if "bounce_address" not in out_entries:
        bounce = f"bounces@{kw['instance'].domain}"
        kw["outbound"] = replace(kw["outbound"], bounce_address=bounce)
    bounce_node = out_entries["bounce_address"][1] if "bounce_address" in out_entries else None
    _check_duplicate_addresses(
        w, queue_entries, agent_entries, kw["outbound"].bounce_address, bounce_node
    )
    rules = read_rules(w, node("rules"), queues, agents)

    database = f"sqlite:///{kw['storage'].path / 'maildesk.db'}"
    if "database" in top:
        url = w.text(top["database"][1], "database")
        if url is not None and not re.match(r"[A-Za-z][A-Za-z0-9+.\-]*://", url):
            w.problem(
                top["database"][1],
                f"database: not an SQLAlchemy URL: {url!r} "
                "(write e.g. sqlite:///var/maildesk.db or postgresql://host/maildesk)",
            )
        elif url is not None:
            database = _sqlite_absolute(url, w.base)
    templates = w.path(top["templates"][1], "templates") if "templates" in top else None
    mailboxes = read_mailboxes(w, node("mailboxes"), queues)
    if w.problems:
        return None
    return Config(
        path=path,
        database=database,
        queues=tuple(queues),
        groups=groups,
        agents=tuple(agents),
        rules=tuple(rules),
        templates=templates,
        mailboxes=tuple(mailboxes),
        calendars=calendars,
        **kw,
    )


def _read_aliased(w: Walker, top: Entries, key: str, meta: Any,
                  null: Node) -> tuple[Any, Entries]:
    """A section under its name or an alias; both given must say the same (an admin who
    wrote `knowledge_base:` beside an old `kb:` must not get one of them silently)."""
    cls = meta["section"]
    given = sorted((name for name in (key, *meta.get("aliases", ())) if name in top),
                   key=lambda name: line_of(top[name][0]))  # the later one is blamed
    if not given:
        return read_section(w, null, cls, key)
    first, (value, entries) = given[0], read_section(w, top[given[0]][1], cls, given[0])
    for name in given[1:]:
        other, _ = read_section(w, top[name][1], cls, name)
        if other != value:
            w.problem(top[name][0], f"{name}: another name for '{first}' (line "
                                    f"{line_of(top[first][0])}) with different values; "
                                    "keep one of them")
    return value, entries


def _check_listen(w: Walker, entries: Entries, listen: Any) -> None:
    if ("tls_cert" in entries) != ("tls_key" in entries):
        key = "tls_cert" if "tls_cert" in entries else "tls_key"
        w.problem(entries[key][0], "listen: tls_cert and tls_key must be given together")
    if listen.require_starttls and "tls_cert" not in entries:
        w.problem(entries["require_starttls"][0], "listen.require_starttls needs tls_cert/tls_key")


def _groups(w: Walker, node: Node, queues: list[Queue]) -> dict[str, dict[str, frozenset[str]]]:
    known = [q.name for q in queues]
    out: dict[str, dict[str, frozenset[str]]] = {}
    for group, (_, gnode) in w.mapping(node, "groups", None).items():
        where = f"groups.{group}"
        out[group] = {}
        for queue, (qkey, pnode) in w.mapping(gnode, where, None).items():
            if queue not in known:
                w.problem(
                    qkey,
                    f"{where}: unknown queue '{queue}' (queues: {', '.join(known) or 'none'})",
                )
            perms: set[str] = set()
            for perm, pitem in w.names(pnode, f"{where}.{queue}"):
                if perm not in PERMISSIONS:
                    w.problem(
                        pitem,
                        f"{where}.{queue}: unknown permission '{perm}' "
                        f"(permissions: {', '.join(PERMISSIONS)})",
                    )
                perms.add(perm)
            out[group][queue] = frozenset(perms & set(PERMISSIONS))
    return out


def _check_duplicate_addresses(
    w: Walker,
    queues: list[tuple[Queue, Entries]],
    agents: list[tuple[Agent, Entries]],
    bounce: str,
    bounce_node: Node | None,
) -> None:
    """One address, one role: a queue address that is also an agent would loop mail."""
    owners: list[tuple[str, str, Node]] = [
        (q.address, f"queue '{q.name}'", e["address"][1]) for q, e in queues
    ]
    owners += [(a.address, f"agent {a.address}", e["address"][1]) for a, e in agents]
    if bounce_node is not None:
        owners.append((bounce, "the bounce address", bounce_node))
    first: dict[str, tuple[str, int]] = {}
    for address, what, node in owners:
        if address in first:
            other, line = first[address]
            w.problem(node, f"{what}: address {address} is already used by {other} (line {line})")
        else:
            first[address] = (what, line_of(node))


def _sqlite_absolute(url: str, base: Path) -> str:
    """`sqlite:///rel.db` is relative to the config file, not to the daemon's cwd."""
    m = re.match(r"(sqlite(?:\+\w+)?:///)([^?]*)(\?.*)?$", url)
    if not m or not m.group(2) or m.group(2) == ":memory:" or m.group(2).startswith("/"):
        return url
    return f"{m.group(1)}{absolute(m.group(2), base)}{m.group(3) or ''}"
