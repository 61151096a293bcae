"""Mailboxes (SPEC 17): `url` and `after` each give several fields of a Mailbox, so this
section has a reader of its own; its keys and their docs are `model.MAILBOX_KEYS`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import unquote, urlsplit

from yaml.nodes import MappingNode, Node

from maildesk.config.model import MAILBOX_KEYS, Mailbox, Queue
from maildesk.config.values import parse_duration
from maildesk.config.walker import Walker, line_of

_Reader = Callable[[Node, str], Any]


_MAILBOX_SCHEMES = {
    "imaps": ("imap", "tls", 993),
    "imap": ("imap", "starttls", 143),
    "imap+plain": ("imap", "plain", 143),
    "pop3s": ("pop3", "tls", 995),
    "pop3": ("pop3", "starttls", 110),
    "pop3+plain": ("pop3", "plain", 110),
}


def parse_mailbox_url(value: str) -> dict[str, Any]:
    """`imaps://user%40example.com@host:993/INBOX` into protocol, security, host, port,
    username and folder. A password in the URL is refused: it belongs in a file."""
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    if scheme not in _MAILBOX_SCHEMES:
        raise ValueError(
            f"unknown scheme {scheme or '(none)'!r} in {value!r} "
            f"(use one of: {', '.join(_MAILBOX_SCHEMES)})"
        )
    protocol, security, default_port = _MAILBOX_SCHEMES[scheme]
    if parts.password is not None:
        raise ValueError("a password does not belong in the URL: use password_file")
    if not parts.username:
        raise ValueError(f"no user name in {value!r} (write user%40domain@host)")
    if not parts.hostname:
        raise ValueError(f"no host in {value!r}")
    try:
        port = parts.port or default_port
    except ValueError:
        raise ValueError(f"bad port in {value!r}") from None
    folder = unquote(parts.path.lstrip("/"))
    if protocol == "pop3" and folder:
        raise ValueError("POP3 has no folders: leave the path out")
    return {
        "protocol": protocol,
        "security": security,
        "host": parts.hostname,
        "port": port,
        "username": unquote(parts.username),
        "folder": folder or ("INBOX" if protocol == "imap" else ""),
    }


def _after(value: str) -> tuple[str, str]:
    action, _, folder = value.partition(":")
    if action in ("delete", "seen") and not folder:
        return action, ""
    if action == "move" and folder.strip():
        return "move", folder.strip()
    raise ValueError(f"{value!r} is not one of: delete, seen, move:FOLDER")


def _since(value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"not a date like 2026-01-01: {value!r}") from None


def read_mailboxes(w: Walker, node: Node, queues: list[Queue]) -> list[Mailbox]:
    out: list[Mailbox] = []
    names: dict[str, int] = {}
    duration: _Reader = lambda v, wh: w.converted(v, wh, parse_duration)  # noqa: E731
    readers: dict[str, _Reader] = {
        "name": lambda v, wh: None,
        "url": lambda v, wh: w.converted(v, wh, parse_mailbox_url),
        "password_file": w.path,
        "oauth2_token_file": w.path,
        "recipient": w.address,
        "after": lambda v, wh: w.converted(v, wh, _after),
        "idle": w.boolean,
        "poll_every": duration,
        "since": lambda v, wh: w.converted(v, wh, _since),
        "tls_ca_file": w.path,
        "batch": lambda v, wh: w.integer(v, wh, 1, 10000),
        "timeout": duration,
    }
    addresses = {q.address for q in queues}
    for i, item in enumerate(w.sequence(node, "mailboxes")):
        entries = w.mapping(item, f"mailboxes[{i}]", tuple(MAILBOX_KEYS))
        if not isinstance(item, MappingNode):
            continue
        name = w.text(entries["name"][1], f"mailboxes[{i}]: name") if "name" in entries else None
        where = f"mailbox '{name}'" if name else f"mailboxes[{i}]"
        for required in ("name", "url", "recipient"):
            if required not in entries:
                w.problem(item, f"{where}: missing required key '{required}'")
        if name is not None:
            if name in names:
                w.problem(
                    entries["name"][1],
                    f"{where}: duplicate mailbox name (first on line {names[name]})",
                )
            names.setdefault(name, line_of(entries["name"][1]))
        kw: dict[str, Any] = {}
        for key, (_, vnode) in entries.items():
            value = readers[key](vnode, f"{where}: {key}")
            if value is not None:
                kw[key] = value
        secrets_given = [k for k in ("password_file", "oauth2_token_file") if k in entries]
        if len(secrets_given) != 1:
            w.problem(item, f"{where}: give exactly one of password_file, oauth2_token_file")
        url, after = kw.pop("url", None), kw.pop("after", None)
        recipient = kw.get("recipient")
        if recipient is not None:
            local, _, domain = recipient.partition("@")
            if f"{local.split('+', 1)[0]}@{domain}" not in addresses:
                w.problem(
                    entries["recipient"][1],
                    f"{where}: recipient {recipient} is not a "
                    f"queue address (queues: {', '.join(sorted(addresses)) or 'none'})",
                )
                continue
        if after is not None:
            kw["after"], kw["move_to"] = after
            if url is not None and url["protocol"] == "pop3" and after[0] == "move":
                w.problem(
                    entries["after"][1],
                    f"{where}: POP3 has no folders to move to (use delete or seen)",
                )
                continue
        if name is None or url is None or recipient is None or len(secrets_given) != 1:
            continue
        out.append(Mailbox(name=name, line=line_of(item), **url, **kw))
    return out
