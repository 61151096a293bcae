"""maildesk.yaml as frozen, typed objects.

The dataclasses below are the vocabulary every other module uses. `load_config` turns
YAML into them and reports every problem as `file:line: message`, so an admin never has
to guess which line is wrong.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "Agent",
    "Config",
    "ConfigError",
    "Instance",
    "Limits",
    "Listen",
    "Mailbox",
    "Outbound",
    "Pattern",
    "Queue",
    "Rule",
    "Storage",
    "find_config",
    "load_config",
    "parse_duration",
    "parse_hostport",
    "parse_priority",
    "parse_size",
]

PERMISSIONS = ("read", "note", "reply", "move", "priority", "lock", "owner", "close", "merge")
AUTORESPONSE_EVENTS = ("new", "followup", "reject", "closed_followup")
AUTORESPONSE_DEFAULTS = {"new": True, "followup": False, "reject": True, "closed_followup": True}
STATES = (
    "new",
    "open",
    "pending reminder",
    "pending auto-close",
    "closed successful",
    "closed unsuccessful",
    "merged",
)
PRIORITY_NAMES = {"very low": 1, "low": 2, "normal": 3, "high": 4, "very high": 5}
NUMBER_FORMATS = ("date", "counter")
ARTICLE_STORES = ("filesystem", "database")
CLOSED_FOLLOWUP_POLICIES = ("reopen", "new_ticket", "reject")
MATCH_CONDITIONS = (
    "recipient",
    "to",
    "cc",
    "from",
    "sender_domain",
    "subject",
    "body",
    "header",
    "has_attachment",
    "known_customer",
)


class ConfigError(Exception):
    """One or more problems in a config file; each message is `file:line: text`."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


@dataclass(frozen=True)
class Pattern:
    """A match value: a case-insensitive glob, or a regex when `regex` is set."""

    text: str
    regex: re.Pattern[str] | None = None

    def matches(self, value: str) -> bool:
        """Regex: `re.search` as written. Glob: the whole value, case-insensitively."""
        if self.regex is not None:
            return self.regex.search(value) is not None
        return _glob_regex(self.text).fullmatch(value) is not None


@functools.lru_cache(maxsize=4096)
def _glob_regex(glob: str) -> re.Pattern[str]:
    """Only `*` and `?` are wildcards: `[` stays literal, since subjects such as
    `[URGENT]*` are common and fnmatch would read them as character classes."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob]
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Instance:
    name: str = "maildesk"
    system_id: int = 10
    ticket_hook: str = "Ticket#"
    number_format: str = "date"  # date | counter
    secret_file: Path = Path("var/secret")
    default_language: str = "en"
    domain: str = "localhost"  # for Message-IDs; defaults to the first queue's domain
    autoresponse_daily_cap: int = 10
    trusted_authserv_ids: tuple[str, ...] = ()
    require_token_and_dkim: bool = False
    reopen_days: int = 30  # closed tickets reopen on follow-up within this many days


@dataclass(frozen=True)
class Storage:
    path: Path = Path("var")
    articles: str = "filesystem"  # filesystem | database


@dataclass(frozen=True)
class Listen:
    smtp: tuple[str, int] | None = ("127.0.0.1", 2525)
    lmtp: tuple[str, int] | None = None
    http: tuple[str, int] | None = None  # the JSON API, health and metrics (SPEC 14)
    max_message_size: int = 25 * 1024 * 1024
    max_recipients: int = 100
    max_line_length: int = 1001
    idle_timeout: float = 300.0
    max_connections: int = 200
    max_connections_per_client: int = 20
    tls_cert: Path | None = None
    tls_key: Path | None = None
    require_starttls: bool = False


@dataclass(frozen=True)
class Outbound:
    relay: tuple[str, int] = ("127.0.0.1", 25)
    starttls: bool = False
    username: str | None = None
    password_file: Path | None = None
    bounce_address: str = "bounces@localhost"
    retry_first: float = 30.0  # seconds before the first retry
    retry_max: float = 3600.0  # backoff cap
    give_up_after: float = 5 * 86400.0


@dataclass(frozen=True)
class Limits:
    """Caps on the work one mail may cause (Python's email package has DoS inputs)."""

    max_header_bytes: int = 256 * 1024
    max_mime_depth: int = 30
    max_parts: int = 500
    max_decoded_bytes: int = 64 * 1024 * 1024
    parse_seconds: float = 10.0


@dataclass(frozen=True)
class Queue:
    name: str
    address: str  # lowercase
    display_name: str = ""
    language: str | None = None
    group: str | None = None
    autoresponse: dict[str, bool] = field(default_factory=dict)  # event -> on/off
    on_closed_followup: str = "reopen"  # reopen | new_ticket | reject
    require_known_customer: bool = False
    require_token_and_dkim: bool | None = None  # None: the instance default
    line: int = 0


@dataclass(frozen=True)
class Agent:
    address: str  # lowercase
    name: str = ""
    groups: tuple[str, ...] = ()
    language: str | None = None
    line: int = 0


@dataclass(frozen=True)
class Rule:
    name: str
    # condition name -> tuple of patterns (any may match); all conditions must hold.
    # Names: recipient, to, cc, from, sender_domain, subject, body.
    match: dict[str, tuple[Pattern, ...]] = field(default_factory=dict)
    headers: dict[str, tuple[Pattern, ...]] = field(default_factory=dict)  # match.header
    has_attachment: bool | None = None
    known_customer: bool | None = None
    set: dict[str, object] = field(default_factory=dict)  # queue priority state owner tags language
    autoresponse: bool | None = None
    ignore: bool = False
    reject: str | None = None
    stop: bool = False
    followups: bool = False  # also apply to follow-ups
    line: int = 0


@dataclass(frozen=True)
class Mailbox:
    """One IMAP or POP3 account fetched into the pipeline (SPEC 17)."""

    name: str
    protocol: str  # imap | pop3
    security: str  # tls (imaps, pop3s) | starttls (imap, pop3) | plain (imap+plain, ...)
    host: str
    port: int
    username: str
    folder: str  # IMAP folder ("INBOX"); "" for POP3
    recipient: str  # the queue address it stands for: the envelope recipient
    password_file: Path | None = None
    oauth2_token_file: Path | None = None
    after: str = "seen"  # delete | seen | move
    move_to: str = ""  # the folder of `after: move:FOLDER`
    idle: bool = True
    poll_every: float = 60.0
    since: date | None = None
    tls_ca_file: Path | None = None
    batch: int = 100
    timeout: float = 60.0
    line: int = 0

    @property
    def url(self) -> str:
        """The account without secrets, for logs and status."""
        scheme = {"tls": f"{self.protocol}s", "starttls": self.protocol,
                  "plain": f"{self.protocol}+plain"}[self.security]
        folder = f"/{self.folder}" if self.folder else ""
        return f"{scheme}://{self.username}@{self.host}:{self.port}{folder}"


@dataclass(frozen=True)
class Config:
    path: Path
    instance: Instance
    database: str
    storage: Storage
    listen: Listen
    outbound: Outbound
    limits: Limits
    queues: tuple[Queue, ...]
    groups: dict[str, dict[str, frozenset[str]]]  # group -> queue -> permissions
    agents: tuple[Agent, ...]
    rules: tuple[Rule, ...]
    templates: Path | None = None  # a folder overriding the shipped templates
    mailboxes: tuple[Mailbox, ...] = ()

    def mailbox(self, name: str) -> Mailbox | None:
        return next((m for m in self.mailboxes if m.name == name), None)

    def queue(self, name: str) -> Queue | None:
        return next((q for q in self.queues if q.name == name), None)

    def queue_for_address(self, address: str) -> Queue | None:
        """The queue an address (or its `+tag` sub-address) belongs to."""
        local, _, domain = address.lower().partition("@")
        base = local.split("+", 1)[0] + "@" + domain
        return next((q for q in self.queues if q.address == base), None)

    def agent(self, address: str) -> Agent | None:
        address = address.lower()
        return next((a for a in self.agents if a.address == address), None)

    def is_system_address(self, address: str) -> bool:
        """Queue addresses, their sub-addresses and the bounce address (with VERP)."""
        if self.queue_for_address(address) is not None:
            return True
        local, _, domain = address.lower().partition("@")
        b_local, _, b_domain = self.outbound.bounce_address.lower().partition("@")
        return domain == b_domain and local.split("+", 1)[0] == b_local

    def permissions(self, agent: Agent, queue: str) -> frozenset[str]:
        perms: set[str] = set()
        for g in agent.groups:
            perms |= self.groups.get(g, {}).get(queue, frozenset())
        return frozenset(perms)


# --------------------------------------------------------------------------- helpers


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1000**3,
    "gib": 1024**3,
}
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)


def parse_size(value: str | int) -> int:
    """`25MiB`, `25 MB`, `1k` or a number of bytes. KB/MB/GB are decimal, KiB/MiB/GiB and
    bare K/M/G binary (what admins mean when they write `25M` for a mail size)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"size must not be negative: {value}")
        return value
    m = _SIZE_RE.fullmatch(value)
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"not a size: {value!r} (write e.g. 25MiB, 500KB or 1048576)")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])


def parse_duration(value: str | int | float) -> float:
    """`30s`, `15m`, `1h30m`, `5d`, `1w` or a number of seconds, as seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if not 0 <= value < float("inf"):
            raise ValueError(f"duration must be a positive number: {value}")
        return float(value)
    text = value.strip()
    try:
        return parse_duration(float(text))
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if text[pos : m.start()].strip():
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2).lower()]
        pos = m.end()
    if pos == 0 or text[pos:].strip():
        raise ValueError(f"not a duration: {value!r} (write e.g. 30s, 15m, 1h, 5d)")
    return total


def parse_hostport(value: str) -> tuple[str, int]:
    """`host:port`, `127.0.0.1:2525` or `[::1]:2525` (IPv6 needs the brackets)."""
    if not isinstance(value, str):
        raise ValueError(f"not host:port: {value!r} (write e.g. 127.0.0.1:2525)")
    text = value.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"not host:port: {value!r} (IPv6 is written [::1]:2525)")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"not host:port: {value!r} (write e.g. 127.0.0.1:2525)")
        if ":" in host:
            raise ValueError(f"IPv6 address needs brackets: {value!r} (write [::1]:2525)")
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"not host:port: {value!r} (missing or bad host)")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"not host:port: {value!r} (port must be 0-65535)")
    return host, int(port_text)


def parse_priority(value: str | int) -> int:
    """1-5, `3`, a name (`very high`) or OTRS style `4 high`, as 1-5."""
    if isinstance(value, bool):
        raise ValueError(f"not a priority: {value!r}")
    if isinstance(value, int):
        if 1 <= value <= 5:
            return value
        raise ValueError(f"priority must be 1-5, not {value}")
    text = " ".join(value.lower().split())
    if text.isdigit():
        return parse_priority(int(text))
    if text in PRIORITY_NAMES:
        return PRIORITY_NAMES[text]
    number, _, name = text.partition(" ")
    if number.isdigit() and PRIORITY_NAMES.get(name) == int(number):
        return int(number)
    names = ", ".join(PRIORITY_NAMES)
    raise ValueError(f"not a priority: {value!r} (1-5 or {names})")


# Written as negated ASCII classes: the same sets as `[A-Za-z0-9...\u0080-\U0010ffff]`,
# but they compile in microseconds instead of ~10 ms each (paid by every `deliver`).
_ATEXT = r"[^\x00-\x20\x7f()<>\[\]:;@\\,.\"]"  # atext, and any non-ASCII letter
_LETTER = r"[^\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]"  # letter or digit, any script
_LABEL = rf"{_LETTER}(?:[^\x00-\x2c\x2e\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]*{_LETTER})?"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*"
_ADDR = rf"(?:{_ATEXT}+(?:\.{_ATEXT}+)*|\"[^\"\\\r\n]*\")@(?:{_DOMAIN}|\[[0-9A-Fa-f:.]+\])"

_DOMAIN_RE = re.compile(_DOMAIN)
_ADDR_RE = re.compile(_ADDR)
_LANG_RE = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*")
_HEADER_NAME_RE = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext: printable ASCII but ':'


def _check_address(text: str) -> str:
    """A single bare addr-spec, lowercased: queue and agent identity hangs on it."""
    address = text.strip()
    if "<" in address or "," in address or " " in address:
        raise ValueError(f"must be a single bare address like support@example.com, not {text!r}")
    if len(address) > 254 or not _ADDR_RE.fullmatch(address):
        raise ValueError(f"not a valid address: {text!r}")
    return address.lower()


# --------------------------------------------------------------------------- YAML walker

_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"

TOP_KEYS = (
    "instance",
    "database",
    "storage",
    "listen",
    "outbound",
    "limits",
    "queues",
    "groups",
    "agents",
    "rules",
    "templates",
    "mailboxes",
)
INSTANCE_KEYS = (
    "name",
    "system_id",
    "ticket_hook",
    "number_format",
    "secret_file",
    "default_language",
    "domain",
    "autoresponse_daily_cap",
    "trusted_authserv_ids",
    "require_token_and_dkim",
    "reopen_days",
)
STORAGE_KEYS = ("path", "articles")
LISTEN_KEYS = (
    "smtp",
    "lmtp",
    "http",
    "max_message_size",
    "max_recipients",
    "max_line_length",
    "idle_timeout",
    "max_connections",
    "max_connections_per_client",
    "tls_cert",
    "tls_key",
    "require_starttls",
)
OUTBOUND_KEYS = (
    "relay",
    "starttls",
    "username",
    "password_file",
    "bounce_address",
    "retry_first",
    "retry_max",
    "give_up_after",
)
LIMITS_KEYS = (
    "max_header_bytes",
    "max_mime_depth",
    "max_parts",
    "max_decoded_bytes",
    "parse_seconds",
)
QUEUE_KEYS = (
    "name",
    "address",
    "display_name",
    "language",
    "group",
    "autoresponse",
    "on_closed_followup",
    "require_known_customer",
    "require_token_and_dkim",
)
AGENT_KEYS = ("address", "name", "groups", "language")
RULE_KEYS = ("name", "match", "set", "autoresponse", "ignore", "reject", "stop", "followups")
SET_KEYS = ("queue", "priority", "state", "owner", "tags", "language")
REGEX_KEYS = ("regex",)

_Entries = dict[str, tuple[Node, Node]]


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "empty"
    return repr(node.value)


class _Walker:
    """Reads the composed node tree, so every value keeps its line for error messages."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.problems: list[tuple[int, str]] = []

    def problem(self, node: Node, message: str) -> None:
        self.problems.append((_line(node), message))

    # -- containers

    def mapping(self, node: Node, where: str, allowed: Iterable[str] | None) -> _Entries:
        """Keys of a mapping (null counts as empty); unknown and duplicate keys reported."""
        if _is_null(node):
            return {}
        if not isinstance(node, MappingNode):
            self.problem(node, f"{where}: must be a mapping, not {_kind(node)}")
            return {}
        allowed_t = tuple(allowed) if allowed is not None else None
        out: _Entries = {}
        for key, value in self._own_entries(node, where):
            if allowed_t is not None and key.value not in allowed_t:
                self.problem(
                    key,
                    f"{where}: unknown key '{key.value}' (allowed: {', '.join(allowed_t)})",
                )
                continue
            out[key.value] = (key, value)
        for key, value in self._merged_entries(node, where):
            if key.value not in out and (allowed_t is None or key.value in allowed_t):
                out[key.value] = (key, value)
        return out

    def _own_entries(self, node: MappingNode, where: str) -> list[tuple[ScalarNode, Node]]:
        seen: set[str] = set()
        out: list[tuple[ScalarNode, Node]] = []
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.tag == _MERGE:
                continue
            if not isinstance(key, ScalarNode) or key.tag == _NULL:
                self.problem(key, f"{where}: keys must be plain names")
                continue
            if key.value in seen:
                self.problem(key, f"{where}: duplicate key '{key.value}'")
                continue
            seen.add(key.value)
            out.append((key, value))
        return out

    def _merged_entries(self, node: MappingNode, where: str) -> list[tuple[ScalarNode, Node]]:
        """YAML merge keys (`<<: *defaults`): earlier sources win, own keys win over all."""
        out: list[tuple[ScalarNode, Node]] = []
        for key, value in node.value:
            if not (isinstance(key, ScalarNode) and key.tag == _MERGE):
                continue
            sources = value.value if isinstance(value, SequenceNode) else [value]
            for src in sources:
                if not isinstance(src, MappingNode):
                    self.problem(src, f"{where}: '<<' must merge a mapping")
                    continue
                out.extend(self._own_entries(src, where))
                out.extend(self._merged_entries(src, where))
        return out

    def sequence(self, node: Node, where: str) -> list[Node]:
        if _is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            self.problem(node, f"{where}: must be a list, not {_kind(node)}")
            return []
        return list(node.value)

    # -- scalars (None means: reported, use the default)

    def text(self, node: Node, where: str, *, empty_ok: bool = False) -> str | None:
        """Any scalar as written: `language: no` stays "no", not YAML 1.1's False."""
        if not isinstance(node, ScalarNode) or node.tag == _NULL:
            self.problem(node, f"{where}: must be text, not {_kind(node)}")
            return None
        if not empty_ok and not node.value.strip():
            self.problem(node, f"{where}: must not be empty")
            return None
        return node.value

    def boolean(self, node: Node, where: str) -> bool | None:
        if isinstance(node, ScalarNode) and node.tag == _BOOL:
            return bool(self.loader.construct_object(node))
        self.problem(node, f"{where}: must be true or false, not {_kind(node)}")
        return None

    def integer(self, node: Node, where: str, lo: int = 0, hi: int | None = None) -> int | None:
        value: int | None = None
        if isinstance(node, ScalarNode):
            if node.tag == _INT:
                value = self.loader.construct_object(node)
            elif node.tag != _BOOL and node.value.strip().isdigit():
                value = int(node.value)
        rng = f"{lo}-{hi}" if hi is not None else f">= {lo}"
        if value is None or value < lo or (hi is not None and value > hi):
            self.problem(node, f"{where}: must be a whole number {rng}, not {_kind(node)}")
            return None
        return value

    def converted(self, node: Node, where: str, convert: Callable[[Any], Any]) -> Any:
        """A scalar through a parse_* helper; numbers reach it as numbers."""
        if not isinstance(node, ScalarNode) or node.tag in (_NULL, _BOOL):
            raw: Any = None
        elif node.tag in (_INT, _FLOAT):
            raw = self.loader.construct_object(node)
        else:
            raw = node.value
        try:
            if raw is None:
                raise ValueError(f"must be a single value, not {_kind(node)}")
            return convert(raw)
        except ValueError as exc:
            self.problem(node, f"{where}: {exc}")
            return None

    def choice(self, node: Node, where: str, choices: Iterable[str]) -> str | None:
        value = self.text(node, where)
        choices = tuple(choices)
        if value is not None and value not in choices:
            self.problem(node, f"{where}: {value!r} is not one of: {', '.join(choices)}")
            return None
        return value

    def address(self, node: Node, where: str) -> str | None:
        value = self.text(node, where)
        return None if value is None else self.converted(node, where, _check_address)

    def language(self, node: Node, where: str) -> str | None:
        value = self.text(node, where)
        if value is not None and not _LANG_RE.fullmatch(value):
            self.problem(node, f"{where}: not a language code like en or pt-BR: {value!r}")
            return None
        return value

    def path(self, node: Node, where: str, base: Path) -> Path | None:
        value = self.text(node, where)
        return None if value is None else _absolute(value, base)

    def names(self, node: Node, where: str) -> list[tuple[str, Node]]:
        """A list of texts, or one text standing for a list of one."""
        items = [node] if isinstance(node, ScalarNode) and not _is_null(node) else None
        out: list[tuple[str, Node]] = []
        for item in items or self.sequence(node, where):
            value = self.text(item, where)
            if value is not None:
                out.append((value, item))
        return out


def _absolute(text: str, base: Path) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def _sqlite_absolute(url: str, base: Path) -> str:
    """`sqlite:///rel.db` is relative to the config file, not to the daemon's cwd."""
    m = re.match(r"(sqlite(?:\+\w+)?:///)([^?]*)(\?.*)?$", url)
    if not m or not m.group(2) or m.group(2) == ":memory:" or m.group(2).startswith("/"):
        return url
    return f"{m.group(1)}{_absolute(m.group(2), base)}{m.group(3) or ''}"


# --------------------------------------------------------------------------- loader


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
    base = Path(path).expanduser().absolute().parent
    walker = _Walker(loader)
    config = _build(walker, root, Path(path).expanduser().absolute(), base)
    if walker.problems or config is None:
        problems = sorted(walker.problems, key=lambda p: p[0])
        raise ConfigError([f"{name}:{line}: {message}" for line, message in problems])
    return config


def _build(w: _Walker, root: Node, path: Path, base: Path) -> Config | None:
    top = w.mapping(root, "config", TOP_KEYS)
    null = ScalarNode(_NULL, "", root.start_mark, root.end_mark)

    def section(key: str) -> Node:
        return top[key][1] if key in top else null

    instance, explicit_domain = _instance(w, section("instance"), base)
    storage = _storage(w, section("storage"), base)
    listen = _listen(w, section("listen"), base)
    limits = _limits(w, section("limits"))
    queue_entries = _queues(w, section("queues"), top["queues"][0] if "queues" in top else root)
    queues = [q for q, _ in queue_entries]
    groups = _groups(w, section("groups"), queues)
    agent_entries = _agents(w, section("agents"), groups)
    agents = [a for a, _ in agent_entries]
    for q, entries in queue_entries:
        if q.group is not None and q.group not in groups:
            known = ", ".join(groups) or "none defined"
            blame = entries["group"][1]
            w.problem(blame, f"queue '{q.name}': unknown group '{q.group}' (groups: {known})")

    domain = explicit_domain or (queues[0].address.partition("@")[2] if queues else "localhost")
    instance = replace(instance, domain=domain)
    outbound, bounce_node = _outbound(w, section("outbound"), base, domain)
    _check_duplicate_addresses(
        w, queue_entries, agent_entries, outbound.bounce_address, bounce_node
    )
    rules = _rules(w, section("rules"), queues, agents)

    database = f"sqlite:///{storage.path / 'maildesk.db'}"
    if "database" in top:
        url = w.text(top["database"][1], "database")
        if url is not None and not re.match(r"[A-Za-z][A-Za-z0-9+.\-]*://", url):
            w.problem(
                top["database"][1],
                f"database: not an SQLAlchemy URL: {url!r} "
                "(write e.g. sqlite:///var/maildesk.db or postgresql://host/maildesk)",
            )
        elif url is not None:
            database = _sqlite_absolute(url, base)
    templates = w.path(top["templates"][1], "templates", base) if "templates" in top else None
    mailboxes = _mailboxes(w, section("mailboxes"), base, queues)
    if w.problems:
        return None
    return Config(
        path=path,
        instance=instance,
        database=database,
        storage=storage,
        listen=listen,
        outbound=outbound,
        limits=limits,
        queues=tuple(queues),
        groups=groups,
        agents=tuple(agents),
        rules=tuple(rules),
        templates=templates,
        mailboxes=tuple(mailboxes),
    )


_OFF = object()  # an explicit `null`/`false` that turns a listener off
_Reader = Callable[[Node, str], Any]


def _fields(
    w: _Walker, entries: _Entries, prefix: str, readers: dict[str, _Reader], sep: str = "."
) -> dict:
    """Run each present key through its reader; failed reads are left out (defaults stay)."""
    out: dict[str, Any] = {}
    for key, (_, node) in entries.items():
        value = readers[key](node, f"{prefix}{sep}{key}")
        if value is not None:
            out[key] = None if value is _OFF else value
    return out


def _instance(w: _Walker, node: Node, base: Path) -> tuple[Instance, str | None]:
    def hook(v: Node, where: str) -> str | None:
        value = w.text(v, where)
        if value is not None and (re.search(r"[\[\]\s]", value)):
            w.problem(v, f"{where}: must not contain spaces or brackets: {value!r}")
            return None
        return value

    def domain(v: Node, where: str) -> str | None:
        value = w.text(v, where)
        if value is not None and not _DOMAIN_RE.fullmatch(value):
            w.problem(v, f"{where}: not a domain name: {value!r}")
            return None
        return None if value is None else value.lower()

    def authserv_ids(v: Node, where: str) -> tuple[str, ...]:
        return tuple(name for name, _ in w.names(v, where))

    readers: dict[str, _Reader] = {
        "name": w.text,
        "system_id": lambda v, wh: w.integer(v, wh, 0, 99),
        "ticket_hook": hook,
        "number_format": lambda v, wh: w.choice(v, wh, NUMBER_FORMATS),
        "secret_file": lambda v, wh: w.path(v, wh, base),
        "default_language": w.language,
        "domain": domain,
        "autoresponse_daily_cap": w.integer,
        "trusted_authserv_ids": authserv_ids,
        "require_token_and_dkim": w.boolean,
        "reopen_days": w.integer,
    }
    kw = {"secret_file": base / "var" / "secret"}
    kw |= _fields(w, w.mapping(node, "instance", INSTANCE_KEYS), "instance", readers)
    return Instance(**kw), kw.get("domain")


def _storage(w: _Walker, node: Node, base: Path) -> Storage:
    readers: dict[str, _Reader] = {
        "path": lambda v, wh: w.path(v, wh, base),
        "articles": lambda v, wh: w.choice(v, wh, ARTICLE_STORES),
    }
    kw = {"path": base / "var"}
    kw |= _fields(w, w.mapping(node, "storage", STORAGE_KEYS), "storage", readers)
    return Storage(**kw)


def _listen(w: _Walker, node: Node, base: Path) -> Listen:
    def endpoint(v: Node, where: str) -> Any:
        if _is_null(v) or (isinstance(v, ScalarNode) and v.tag == _BOOL and v.value in _FALSE):
            return _OFF
        return w.converted(v, where, parse_hostport)

    readers: dict[str, _Reader] = {
        "smtp": endpoint,
        "lmtp": endpoint,
        "http": endpoint,
        "max_message_size": lambda v, wh: w.converted(v, wh, parse_size),
        "max_recipients": lambda v, wh: w.integer(v, wh, 1),
        "max_line_length": lambda v, wh: w.integer(v, wh, 80),
        "idle_timeout": lambda v, wh: w.converted(v, wh, parse_duration),
        "max_connections": lambda v, wh: w.integer(v, wh, 1),
        "max_connections_per_client": lambda v, wh: w.integer(v, wh, 1),
        "tls_cert": lambda v, wh: w.path(v, wh, base),
        "tls_key": lambda v, wh: w.path(v, wh, base),
        "require_starttls": w.boolean,
    }
    entries = w.mapping(node, "listen", LISTEN_KEYS)
    kw = _fields(w, entries, "listen", readers)
    if ("tls_cert" in entries) != ("tls_key" in entries):
        key = "tls_cert" if "tls_cert" in entries else "tls_key"
        w.problem(entries[key][0], "listen: tls_cert and tls_key must be given together")
    if kw.get("require_starttls") and "tls_cert" not in entries:
        w.problem(entries["require_starttls"][0], "listen.require_starttls needs tls_cert/tls_key")
    return Listen(**kw)


_FALSE = ("false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N")


def _outbound(w: _Walker, node: Node, base: Path, domain: str) -> tuple[Outbound, Node | None]:
    duration: _Reader = lambda v, wh: w.converted(v, wh, parse_duration)  # noqa: E731
    readers: dict[str, _Reader] = {
        "relay": lambda v, wh: w.converted(v, wh, parse_hostport),
        "starttls": w.boolean,
        "username": w.text,
        "password_file": lambda v, wh: w.path(v, wh, base),
        "bounce_address": w.address,
        "retry_first": duration,
        "retry_max": duration,
        "give_up_after": duration,
    }
    entries = w.mapping(node, "outbound", OUTBOUND_KEYS)
    kw = {"bounce_address": f"bounces@{domain}"}
    kw |= _fields(w, entries, "outbound", readers)
    bounce_node = entries["bounce_address"][1] if "bounce_address" in entries else None
    return Outbound(**kw), bounce_node


def _limits(w: _Walker, node: Node) -> Limits:
    size: _Reader = lambda v, wh: w.converted(v, wh, parse_size)  # noqa: E731
    readers: dict[str, _Reader] = {
        "max_header_bytes": size,
        "max_mime_depth": lambda v, wh: w.integer(v, wh, 1),
        "max_parts": lambda v, wh: w.integer(v, wh, 1),
        "max_decoded_bytes": size,
        "parse_seconds": lambda v, wh: w.converted(v, wh, parse_duration),
    }
    return Limits(**_fields(w, w.mapping(node, "limits", LIMITS_KEYS), "limits", readers))


def _autoresponse(w: _Walker, node: Node, where: str) -> dict[str, bool]:
    """`{new: true, ...}` over the defaults, or one bool for every event."""
    events = dict(AUTORESPONSE_DEFAULTS)
    if isinstance(node, ScalarNode) and node.tag == _BOOL:
        value = w.boolean(node, where)
        return dict.fromkeys(events, bool(value))
    for key, (_, v) in w.mapping(node, where, AUTORESPONSE_EVENTS).items():
        value = w.boolean(v, f"{where}.{key}")
        if value is not None:
            events[key] = value
    return events


def _queues(w: _Walker, node: Node, key_node: Node) -> list[tuple[Queue, _Entries]]:
    """Queues with their keys' nodes, to blame later checks (groups, duplicates) exactly."""
    out: list[tuple[Queue, _Entries]] = []
    names: dict[str, int] = {}
    items = w.sequence(node, "queues")
    if not items and (_is_null(node) or isinstance(node, SequenceNode)):
        w.problem(key_node, "queues: at least one queue is required")
    for i, item in enumerate(items):
        entries = w.mapping(item, f"queues[{i}]", QUEUE_KEYS)
        if not isinstance(item, MappingNode):
            continue
        name = w.text(entries["name"][1], f"queues[{i}]: name") if "name" in entries else None
        where = f"queue '{name}'" if name else f"queues[{i}]"
        for required in ("name", "address"):
            if required not in entries:
                w.problem(item, f"{where}: missing required key '{required}'")
        if name is not None:
            if name in names:
                w.problem(
                    entries["name"][1],
                    f"{where}: duplicate queue name (first on line {names[name]})",
                )
            names.setdefault(name, _line(entries["name"][1]))
        readers: dict[str, _Reader] = {
            "name": lambda v, wh: None,
            "address": w.address,
            "display_name": lambda v, wh: w.text(v, wh, empty_ok=True),
            "language": w.language,
            "group": w.text,
            "autoresponse": lambda v, wh: _autoresponse(w, v, wh),
            "on_closed_followup": lambda v, wh: w.choice(v, wh, CLOSED_FOLLOWUP_POLICIES),
            "require_known_customer": w.boolean,
            "require_token_and_dkim": w.boolean,
        }
        kw = _fields(w, entries, where, readers, sep=": ")
        kw.setdefault("autoresponse", dict(AUTORESPONSE_DEFAULTS))
        if name is None or "address" not in kw:
            continue
        out.append((Queue(name=name, line=_line(item), **kw), entries))
    return out


def _groups(w: _Walker, node: Node, queues: list[Queue]) -> dict[str, dict[str, frozenset[str]]]:
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


def _agents(
    w: _Walker, node: Node, groups: dict[str, dict[str, frozenset[str]]]
) -> list[tuple[Agent, _Entries]]:
    out: list[tuple[Agent, _Entries]] = []
    for i, item in enumerate(w.sequence(node, "agents")):
        entries = w.mapping(item, f"agents[{i}]", AGENT_KEYS)
        if not isinstance(item, MappingNode):
            continue
        where = f"agents[{i}]"
        if "address" not in entries:
            w.problem(item, f"{where}: missing required key 'address'")
        elif isinstance(entries["address"][1], ScalarNode):
            where = f"agent {entries['address'][1].value}"

        def agent_groups(v: Node, where: str) -> tuple[str, ...]:
            names = w.names(v, where)
            for group, gnode in names:
                if group not in groups:
                    w.problem(
                        gnode,
                        f"{where}: unknown group '{group}' "
                        f"(groups: {', '.join(groups) or 'none defined'})",
                    )
            return tuple(group for group, _ in names)

        readers: dict[str, _Reader] = {
            "address": w.address,
            "name": lambda v, wh: w.text(v, wh, empty_ok=True),
            "groups": agent_groups,
            "language": w.language,
        }
        kw = _fields(w, entries, where, readers, sep=": ")
        if "address" in kw:
            out.append((Agent(line=_line(item), **kw), entries))
    return out


def _check_duplicate_addresses(
    w: _Walker,
    queues: list[tuple[Queue, _Entries]],
    agents: list[tuple[Agent, _Entries]],
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
            first[address] = (what, _line(node))


def _patterns(w: _Walker, node: Node, where: str) -> tuple[Pattern, ...] | None:
    """A glob, `{regex: ...}`, or a list of either (any may match)."""
    if isinstance(node, SequenceNode):
        items = list(node.value)
        if not items:
            w.problem(node, f"{where}: an empty list matches nothing")
            return None
    else:
        items = [node]
    out: list[Pattern] = []
    ok = True
    for item in items:
        if isinstance(item, MappingNode):
            entries = w.mapping(item, where, REGEX_KEYS)
            if "regex" not in entries:
                ok = False
                if not w.problems or w.problems[-1][0] != _line(item):
                    w.problem(item, f"{where}: write a pattern as text or {{regex: ...}}")
                continue
            rnode = entries["regex"][1]
            source = w.text(rnode, f"{where}.regex")
            if source is None:
                ok = False
                continue
            try:
                out.append(Pattern(source, re.compile(source)))
            except re.error as exc:
                w.problem(rnode, f"{where}: bad regex {source!r}: {exc}")
                ok = False
        elif isinstance(item, ScalarNode) and not _is_null(item):
            out.append(Pattern(item.value))
        else:
            w.problem(
                item, f"{where}: must be text, {{regex: ...}} or a list of them, not {_kind(item)}"
            )
            ok = False
    return tuple(out) if ok else None


def _rules(w: _Walker, node: Node, queues: list[Queue], agents: list[Agent]) -> list[Rule]:
    queue_names = [q.name for q in queues]
    agent_addresses = {a.address for a in agents}
    out: list[Rule] = []
    for i, item in enumerate(w.sequence(node, "rules")):
        entries = w.mapping(item, f"rules[{i}]", RULE_KEYS)
        if not isinstance(item, MappingNode):
            continue
        name = w.text(entries["name"][1], f"rules[{i}]: name") if "name" in entries else None
        where = f"rule '{name}'" if name else f"rules[{i}]"
        kw: dict[str, Any] = {"name": name or f"rule {i + 1}", "line": _line(item)}
        if "match" in entries:
            kw |= _match(w, entries["match"][1], f"{where}: match")
        if "set" in entries:
            kw["set"] = _set(w, entries["set"][1], f"{where}: set", queue_names, agent_addresses)
        for key in ("autoresponse", "ignore", "stop", "followups"):
            if key in entries:
                value = w.boolean(entries[key][1], f"{where}: {key}")
                if value is not None:
                    kw[key] = value
        if "reject" in entries:
            rnode = entries["reject"][1]
            if isinstance(rnode, ScalarNode) and rnode.tag == _BOOL:
                if w.boolean(rnode, f"{where}: reject"):
                    kw["reject"] = "Message refused by policy"
            else:
                kw["reject"] = w.text(rnode, f"{where}: reject")
        if kw.get("ignore") and kw.get("reject"):
            w.problem(entries["ignore"][0], f"{where}: a rule cannot both ignore and reject")
        out.append(Rule(**kw))
    return out


def _match(w: _Walker, node: Node, where: str) -> dict[str, Any]:
    kw: dict[str, Any] = {"match": {}, "headers": {}}
    for cond, (_, vnode) in w.mapping(node, where, MATCH_CONDITIONS).items():
        if cond in ("has_attachment", "known_customer"):
            kw[cond] = w.boolean(vnode, f"{where}.{cond}")
        elif cond == "header":
            for header, (hkey, hnode) in w.mapping(vnode, f"{where}.header", None).items():
                if not _HEADER_NAME_RE.fullmatch(header):
                    w.problem(hkey, f"{where}.header: not a header name: {header!r}")
                    continue
                patterns = _patterns(w, hnode, f"{where}.header.{header}")
                if patterns is not None:
                    kw["headers"][header] = patterns
        else:
            patterns = _patterns(w, vnode, f"{where}.{cond}")
            if patterns is not None:
                kw["match"][cond] = patterns
    return kw


def _set(
    w: _Walker, node: Node, where: str, queues: list[str], agents: set[str]
) -> dict[str, object]:
    def queue(v: Node, wh: str) -> str | None:
        value = w.text(v, wh)
        if value is not None and value not in queues:
            w.problem(v, f"{wh}: unknown queue '{value}' (queues: {', '.join(queues) or 'none'})")
            return None
        return value

    def owner(v: Node, wh: str) -> str | None:
        value = w.address(v, wh)
        if value is not None and value not in agents:
            w.problem(v, f"{wh}: {value} is not a configured agent")
            return None
        return value

    def tags(v: Node, wh: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(tag for tag, _ in w.names(v, wh)))

    readers: dict[str, _Reader] = {
        "queue": queue,
        "priority": lambda v, wh: w.converted(v, wh, parse_priority),
        # merging needs a target ticket, so no rule may set it
        "state": lambda v, wh: w.choice(v, wh, STATES[:-1]),
        "owner": owner,
        "tags": tags,
        "language": w.language,
    }
    out: dict[str, object] = {}
    for key, (_, v) in w.mapping(node, where, SET_KEYS).items():
        value = readers[key](v, f"{where}.{key}")
        if value is not None:
            out[key] = value
    return out


# --------------------------------------------------------------------------- mailboxes

MAILBOX_KEYS = (
    "name",
    "url",
    "password_file",
    "oauth2_token_file",
    "recipient",
    "after",
    "idle",
    "poll_every",
    "since",
    "tls_ca_file",
    "batch",
    "timeout",
)
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
        raise ValueError(f"unknown scheme {scheme or '(none)'!r} in {value!r} "
                         f"(use one of: {', '.join(_MAILBOX_SCHEMES)})")
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
    return {"protocol": protocol, "security": security, "host": parts.hostname, "port": port,
            "username": unquote(parts.username), "folder": folder or ("INBOX" if
            protocol == "imap" else "")}


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


def _mailboxes(w: _Walker, node: Node, base: Path, queues: list[Queue]) -> list[Mailbox]:
    out: list[Mailbox] = []
    names: dict[str, int] = {}
    duration: _Reader = lambda v, wh: w.converted(v, wh, parse_duration)  # noqa: E731
    readers: dict[str, _Reader] = {
        "name": lambda v, wh: None,
        "url": lambda v, wh: w.converted(v, wh, parse_mailbox_url),
        "password_file": lambda v, wh: w.path(v, wh, base),
        "oauth2_token_file": lambda v, wh: w.path(v, wh, base),
        "recipient": w.address,
        "after": lambda v, wh: w.converted(v, wh, _after),
        "idle": w.boolean,
        "poll_every": duration,
        "since": lambda v, wh: w.converted(v, wh, _since),
        "tls_ca_file": lambda v, wh: w.path(v, wh, base),
        "batch": lambda v, wh: w.integer(v, wh, 1, 10000),
        "timeout": duration,
    }
    addresses = {q.address for q in queues}
    for i, item in enumerate(w.sequence(node, "mailboxes")):
        entries = w.mapping(item, f"mailboxes[{i}]", MAILBOX_KEYS)
        if not isinstance(item, MappingNode):
            continue
        name = w.text(entries["name"][1], f"mailboxes[{i}]: name") if "name" in entries else None
        where = f"mailbox '{name}'" if name else f"mailboxes[{i}]"
        for required in ("name", "url", "recipient"):
            if required not in entries:
                w.problem(item, f"{where}: missing required key '{required}'")
        if name is not None:
            if name in names:
                w.problem(entries["name"][1],
                          f"{where}: duplicate mailbox name (first on line {names[name]})")
            names.setdefault(name, _line(entries["name"][1]))
        kw = _fields(w, entries, where, readers, sep=": ")
        secrets_given = [k for k in ("password_file", "oauth2_token_file") if k in entries]
        if len(secrets_given) != 1:
            w.problem(item, f"{where}: give exactly one of password_file, oauth2_token_file")
        url, after = kw.pop("url", None), kw.pop("after", None)
        recipient = kw.get("recipient")
        if recipient is not None:
            local, _, domain = recipient.partition("@")
            if f"{local.split('+', 1)[0]}@{domain}" not in addresses:
                w.problem(entries["recipient"][1], f"{where}: recipient {recipient} is not a "
                          f"queue address (queues: {', '.join(sorted(addresses)) or 'none'})")
                continue
        if after is not None:
            kw["after"], kw["move_to"] = after
            if url is not None and url["protocol"] == "pop3" and after[0] == "move":
                w.problem(entries["after"][1], f"{where}: POP3 has no folders to move to "
                          "(use delete or seen)")
                continue
        if name is None or url is None or recipient is None or len(secrets_given) != 1:
            continue
        out.append(Mailbox(name=name, line=_line(item), **url, **kw))
    return out
