"""maildesk.yaml as frozen, typed objects.

The dataclasses below are the vocabulary every other module uses. `load_config` turns
YAML into them and reports every problem as `file:line: message`, so an admin never has
to guess which line is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Agent",
    "Config",
    "ConfigError",
    "Instance",
    "Limits",
    "Listen",
    "Outbound",
    "Pattern",
    "Queue",
    "Rule",
    "Storage",
    "find_config",
    "load_config",
]

PERMISSIONS = ("read", "note", "reply", "move", "priority", "lock", "owner", "close", "merge")
AUTORESPONSE_EVENTS = ("new", "followup", "reject", "closed_followup")


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
        raise NotImplementedError  # filled in by the config loader work


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


def find_config(explicit: str | None) -> Path:
    """SPEC 10: --config, else $MAILDESK_CONFIG, else ./maildesk.yaml, else /etc/maildesk."""
    raise NotImplementedError


def load_config(path: Path) -> Config:
    raise NotImplementedError
