"""maildesk.yaml as frozen, typed objects: every key declared once, here.

Each `setting(...)` is a key of `maildesk.yaml`: its default, its reader (how the YAML walker
turns the text into a value and what it refuses) and its one-line doc (checked against the
README by tests/test_docs.py). `Config` lists the top-level sections in file order; the
sections served over HTTP (webhooks, api, web, kb) are declared in config/http.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from maildesk.config import fields as f
from maildesk.config import timing
from maildesk.config.accounts import MAILBOX_KEYS, Mailbox
from maildesk.config.customers import CustomerBackend
from maildesk.config.http import Api, Kb, Web, Webhook
from maildesk.config.patterns import Matcher, compile_glob
from maildesk.config.values import (
    parse_duration,
    parse_hostport,
    parse_size,
    show_duration,
    show_size,
)
from maildesk.config.vocabulary import (
    ARTICLE_STORES,
    AUTORESPONSE_DEFAULTS,
    BARE_NEWLINE,
    CLOSED_FOLLOWUP_POLICIES,
    NUMBER_FORMATS,
)
from maildesk.timers.calendar import Calendar


@dataclass(frozen=True)
class Pattern:
    """A match value: a case-insensitive glob, or a regex when `regex` is set."""

    text: str
    regex: Matcher | None = None

    def matches(self, value: str) -> bool:
        """Regex: a search as written. Glob: the whole value, case-insensitively. Both on
        RE2, in time linear in the value (maildesk.config.patterns)."""
        if self.regex is not None:
            return self.regex.search(value) is not None
        return compile_glob(self.text).fullmatch(value) is not None


_duration = f.parsed(parse_duration, show_duration)
_size = f.parsed(parse_size, show_size)


@dataclass(frozen=True)
class Instance:
    name: str = f.setting("maildesk", read=f.text(), doc="shown in mails and logs")
    system_id: int = f.setting(
        10, read=f.integer(0, 99), doc="0-99: the two digits inside ticket numbers"
    )
    ticket_hook: str = f.setting(
        "Ticket#", read=f.ticket_hook, doc="subject tag: [Ticket#2026112510000012]"
    )
    number_format: str = f.setting(
        "date", read=f.choice(NUMBER_FORMATS), doc="date (YYYYMMDD + system id + counter) | counter"
    )
    secret_file: Path = f.setting(
        Path("var/secret"), read=f.path, doc="HMAC key for reply tokens; `init` creates it"
    )
    default_language: str = f.setting(
        "en", read=f.language, doc="language of auto-responses when the customer's is unknown"
    )
    domain: str = f.setting(
        "localhost", read=f.domain, doc="for Message-IDs; default: the first queue's domain"
    )
    autoresponse_daily_cap: int = f.setting(
        10, read=f.integer(), doc="at most this many auto-responses per sender per day"
    )
    autoresponse_hourly_cap: int = f.setting(
        200, read=f.integer(), doc="at most this many auto-responses per hour for the whole desk"
    )
    trusted_authserv_ids: tuple[str, ...] = f.setting(
        (), read=f.names, doc="Authentication-Results from these MTAs count"
    )
    require_token_and_dkim: bool = f.setting(
        False, read=f.boolean, doc="agent commands need both the reply token and DKIM pass"
    )
    dkim_max_age: float = f.setting(
        2 * 86400.0, read=_duration,
        doc="an agent's DKIM signature older than this (t=) proves nothing: a replay",
    )
    reply_token_max_age: float = f.setting(
        90 * 86400.0, read=_duration,
        doc="an agent's reply token older than this proves nothing (the agent is told)",
    )
    reopen_days: int = f.setting(
        30, read=f.integer(), doc="a follow-up reopens a closed ticket within this many days"
    )
    timezone: str = f.setting(
        "UTC", read=timing.timezone, doc="for dates in /pending when the queue has no calendar"
    )
    lock_timeout: float | None = f.setting(
        None, read=_duration, doc="a lock nobody touched this long is released (e.g. 30m)"
    )


@dataclass(frozen=True)
class Storage:
    path: Path = f.setting(Path("var"), read=f.path, doc="article store and spools")
    articles: str = f.setting(
        "filesystem", read=f.choice(ARTICLE_STORES), doc="filesystem | database"
    )


@dataclass(frozen=True)
class Listen:
    smtp: tuple[str, int] | None = f.setting(
        ("127.0.0.1", 2525), read=f.endpoint(parse_hostport), doc="host:port, or null: off"
    )
    lmtp: tuple[str, int] | None = f.setting(
        None, read=f.endpoint(parse_hostport), doc="host:port, or null: off"
    )
    http: tuple[str, int] | None = f.setting(
        None,
        read=f.endpoint(parse_hostport),
        doc="the JSON API, /healthz and /metrics (SPEC 14): host:port, or null: off",
    )
    socket: Path | None = f.setting(
        None, read=f.path,
        doc="LMTP on this Unix socket too; `maildesk deliver` hands mail to it (SPEC 19)",
    )
    max_message_size: int = f.setting(
        25 * 1024 * 1024, read=_size, doc="larger mails get 552 5.3.4"
    )
    memory_budget: int = f.setting(
        128 * 1024 * 1024, read=_size,
        doc="bytes of mail parsed and stored at once; past it a mail waits, then gets 452 4.3.1",
    )
    max_recipients: int = f.setting(100, read=f.integer(1), doc="more recipients get 452 4.5.3")
    max_line_length: int = f.setting(
        1001, read=f.integer(80), doc="bytes per SMTP line, CRLF included"
    )
    idle_timeout: float = f.setting(300.0, read=_duration, doc="drop a silent client after this")
    min_data_rate: int = f.setting(
        1024, read=_size,
        doc="bytes/s a DATA transfer must average beyond idle_timeout (421 4.4.2 if slower)",
    )
    max_connections: int = f.setting(200, read=f.integer(1), doc="open SMTP/LMTP sessions")
    max_connections_per_client: int = f.setting(
        20, read=f.integer(1), doc="open sessions from one client address"
    )
    max_time_without_mail: float = f.setting(
        600.0, read=_duration,
        doc="close a session (421 4.4.2) that completed no mail for this long",
    )
    tls_cert: Path | None = f.setting(None, read=f.path, doc="offer STARTTLS with this cert")
    tls_key: Path | None = f.setting(None, read=f.path, doc="... and this key (both or neither)")
    require_starttls: bool = f.setting(
        False, read=f.boolean, doc="refuse MAIL FROM before STARTTLS"
    )
    bare_newline: str = f.setting(
        "normalize", read=f.choice(BARE_NEWLINE),
        doc="data lines ending in LF alone: normalize (taken as CRLF) / reject (550 5.5.2)",
    )


@dataclass(frozen=True)
class Outbound:
    relay: tuple[str, int] = f.setting(
        ("127.0.0.1", 25), read=f.parsed(parse_hostport), doc="the MTA all mail goes out through"
    )
    starttls: bool = f.setting(False, read=f.boolean, doc="STARTTLS to the relay")
    username: str | None = f.setting(None, read=f.text(), doc="SMTP AUTH user at the relay")
    password_file: Path | None = f.setting(
        None, read=f.path, doc="a file holding the relay password"
    )
    bounce_address: str = f.setting(
        "bounces@localhost", read=f.address, doc="return path; VERP: bounces+ID@domain"
    )
    connections: int = f.setting(
        16, read=f.integer(1, 100), doc="connections to the relay, each carrying one mail at a time"
    )
    retry_first: float = f.setting(30.0, read=_duration, doc="first retry after a failure")
    retry_max: float = f.setting(3600.0, read=_duration, doc="cap of the doubling pause")
    give_up_after: float = f.setting(
        5 * 86400.0, read=_duration, doc="then the mail is marked failed"
    )


@dataclass(frozen=True)
class Limits:
    """Caps on the work one mail may cause (Python's email package has DoS inputs)."""

    max_header_bytes: int = f.setting(256 * 1024, read=_size, doc="header block size")
    max_mime_depth: int = f.setting(30, read=f.integer(1), doc="nesting of MIME parts")
    max_parts: int = f.setting(500, read=f.integer(1), doc="MIME parts per mail")
    max_decoded_bytes: int = f.setting(
        64 * 1024 * 1024, read=_size, doc="decoded bytes of all parts"
    )
    parse_seconds: float = f.setting(10.0, read=_duration, doc="parse time per mail")


@dataclass(frozen=True)
class Queue:
    name: str = f.setting(read=f.text(), doc="the queue's name in commands and rules")
    address: str = f.setting(read=f.address, doc="mail to it (and its +tag forms) lands here")
    display_name: str = f.setting(
        "", read=f.text(empty_ok=True), doc="From name of answers and auto-responses"
    )
    language: str | None = f.setting(
        None, read=f.language, doc="auto-response language when the customer's is unknown"
    )
    group: str | None = f.setting(None, read=f.text(), doc="whose agents get notified")
    autoresponse: dict[str, bool] = f.setting(
        read=f.autoresponse,
        factory=lambda: dict(AUTORESPONSE_DEFAULTS),
        doc="true, false, or per event: new, followup, reject, closed_followup",
    )
    on_closed_followup: str = f.setting(
        "reopen", read=f.choice(CLOSED_FOLLOWUP_POLICIES), doc="reopen | new_ticket | reject"
    )
    require_known_customer: bool = f.setting(
        False, read=f.boolean, doc="unknown senders get a polite reject"
    )
    require_token_and_dkim: bool | None = f.setting(
        None, read=f.boolean, doc="per-queue override of the instance setting"
    )
    sla: timing.SlaSpec | None = f.setting(
        None, read=timing.sla,
        doc="{first_response, update, solution, calendar, warn_before}: business-time clocks",
    )
    escalate_to: str | None = f.setting(
        None, read=f.text(), doc="second-level queue for tickets unanswered here ..."
    )
    escalate_after: float | None = f.setting(
        None, read=_duration, doc="... for this long (business time of the SLA's calendar)"
    )
    line: int = 0


@dataclass(frozen=True)
class Agent:
    address: str = f.setting(read=f.address, doc="the agent's mail address (identity)")
    name: str = f.setting("", read=f.text(empty_ok=True), doc="shown in answers")
    groups: tuple[str, ...] = f.setting(
        (), read=f.refs("groups"), doc="groups the agent belongs to"
    )
    language: str | None = f.setting(None, read=f.language, doc="language of notifications")
    supervisor: bool = f.setting(
        False, read=f.boolean, doc="sees the dashboard (/dashboard) of the queues it may read"
    )
    timezone: str | None = f.setting(
        None, read=timing.timezone, doc="dates on the web pages (default: instance.timezone)"
    )
    line: int = 0


# A rule's keys: its shape (match conditions, set actions) is read by maildesk.config.rules.
RULE_KEYS = {
    "name": "shown by route-test and in history",
    "match": "conditions, all must hold (see the list above)",
    "set": "queue, priority, state, owner, tags, language",
    "autoresponse": "false: no auto-response for the mail",
    "ignore": "store nothing",
    "reject": "answer 550 with this text (true: a standard text)",
    "stop": "end the rule list",
    "followups": "also apply to follow-ups",
}


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
    """The whole config. Top-level keys are the fields with metadata, in file order."""

    path: Path
    instance: Instance = f.section(Instance, doc="who this helpdesk is")
    database: str = field(
        default="sqlite:///var/maildesk.db", metadata={"doc": "any SQLAlchemy URL"}
    )
    storage: Storage = f.section(Storage, doc="where articles and spools live")
    listen: Listen = f.section(Listen, doc="the SMTP/LMTP listeners")
    outbound: Outbound = f.section(Outbound, doc="how mail leaves")
    limits: Limits = f.section(Limits, doc="bounded work per mail")
    api: Api = f.section(Api, doc="the HTTP API's limits")
    web: Web = f.section(Web, doc="the web pages")
    kb: Kb = f.section(Kb, doc="the knowledge base", aliases=("knowledge_base",))
    webhooks: tuple[Webhook, ...] = f.items(
        Webhook, doc="HTTP receivers of ticket events", title="webhook {}", ident="url"
    )
    queues: tuple[Queue, ...] = f.items(
        Queue, doc="at least one", title="queue '{}'", ident="name", unique=True
    )
    groups: dict[str, dict[str, frozenset[str]]] = field(
        default_factory=dict, metadata={"doc": "group -> queue -> permissions"}
    )
    agents: tuple[Agent, ...] = f.items(
        Agent, doc="who may answer and command tickets by mail", title="agent {}", ident="address"
    )
    rules: tuple[Rule, ...] = field(
        default=(), metadata={"doc": "routing rules, in order", "keys": RULE_KEYS}
    )
    templates: Path | None = field(
        default=None, metadata={"doc": "a folder overriding the shipped templates"}
    )
    calendars: dict[str, Calendar] = field(
        default_factory=dict,
        metadata={"doc": "business hours by name, for SLAs", "keys": timing.CALENDAR_KEYS},
    )
    mailboxes: tuple[Mailbox, ...] = field(
        default=(), metadata={"doc": "IMAP/POP3 accounts to fetch", "keys": MAILBOX_KEYS}
    )
    customers: tuple[CustomerBackend, ...] = f.items(
        CustomerBackend, doc="customer directories after the table: SQL, LDAP (in order)",
        title="customers backend {}", ident="backend",
    )

    def mailbox(self, name: str) -> Mailbox | None:
        return next((m for m in self.mailboxes if m.name == name), None)

    def queue(self, name: str) -> Queue | None:
        return next((q for q in self.queues if q.name == name), None)

    @cached_property
    def _queue_by_address(self) -> dict[str, Queue]:
        """Each queue by its address, the first of the list for a repeated one. Built once
        per Config (a reload makes a new one): a dict look-up per recipient instead of a
        walk of the queues, in the event loop's RCPT and the ingest (issue 20)."""
        found: dict[str, Queue] = {}
        for q in self.queues:
            found.setdefault(q.address, q)
        return found

    def queue_for_address(self, address: str) -> Queue | None:
        """The queue an address (or its `+tag` sub-address) belongs to."""
        local, _, domain = _comparable(address).partition("@")
        return self._queue_by_address.get(local.split("+", 1)[0] + "@" + domain)

    def agent(self, address: str) -> Agent | None:
        address = _comparable(address)
        return next((a for a in self.agents if a.address == address), None)

    def is_system_address(self, address: str) -> bool:
        """Queue addresses, their sub-addresses and the bounce address (with VERP)."""
        local, _, domain = _comparable(address).partition("@")  # once for both
        base = local.split("+", 1)[0]
        if base + "@" + domain in self._queue_by_address:
            return True
        b_local, _, b_domain = self.outbound.bounce_address.lower().partition("@")
        return domain == b_domain and base == b_local

    def permissions(self, agent: Agent, queue: str) -> frozenset[str]:
        perms: set[str] = set()
        for g in agent.groups:
            perms |= self.groups.get(g, {}).get(queue, frozenset())
        return frozenset(perms)


def _comparable(address: str) -> str:
    """Lowercase, the domain in the A-label form the config keeps (maildesk.addresses): mail
    to support@bücher.example finds the queue support@xn--bcher-kva.example."""
    local, at, domain = address.lower().rpartition("@")
    if not at or domain.isascii():
        return address.lower()
    from maildesk.addresses import AddressError, ascii_domain  # here: the rare case only

    try:
        return f"{local}@{ascii_domain(domain)}"
    except AddressError:
        return address.lower()
