"""The schema: tickets and what hangs off them, the Message-ID index, customers, the outbox.

Portable SQL only (SQLite, PostgreSQL, MariaDB): no JSON column types, no partial indexes;
lists are stored as JSON text, times as naive UTC datetimes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from maildesk.store.jsontext import dumps  # the JSON text columns' encoder (issue 20)

__all__ = [
    "ApiToken",
    "Article",
    "AttachmentRow",
    "AutoResponseCount",
    "Base",
    "Blob",
    "Counter",
    "Customer",
    "History",
    "MailboxState",
    "MailboxUidl",
    "MessageIdRow",
    "OutboxAttempt",
    "OutboxMail",
    "Ticket",
    "Timer",
    "WebAttempt",
    "WebLoginLink",
    "WebSession",
    "utcnow"]


def utcnow() -> datetime:
    """Naive UTC: the one form every backend stores the same way (`now(UTC).replace(tzinfo=
    None)`'s value, whose keywords cost ~1 us of its ~1.4: issue 20, ~15 calls a mail)."""
    now = datetime.now(UTC)
    return datetime.combine(now.date(), now.time())  # time(): the naive wall clock


# MariaDB needs a length on indexed strings; 191 chars fits utf8mb4 index limits.
ADDR = 191
MSGID = 191


class Base(DeclarativeBase):
    pass


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(512), default="")
    queue: Mapped[str] = mapped_column(String(100), index=True)
    state: Mapped[str] = mapped_column(String(32), default="new", index=True)
    priority: Mapped[int] = mapped_column(Integer, default=3)
    owner: Mapped[str | None] = mapped_column(String(ADDR), nullable=True)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    customer: Mapped[str] = mapped_column(String(ADDR), default="", index=True)
    customer_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)  # 0013
    cc_json: Mapped[str] = mapped_column(Text, default="[]")
    tags_json: Mapped[str] = mapped_column(Text, default="[]")
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    pending_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), nullable=True)
    linked_to_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # Bumped on every change: concurrent writers on one ticket conflict instead of
    # silently overwriting each other (SQLAlchemy raises StaleDataError).
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    articles: Mapped[list[Article]] = relationship(
        back_populates="ticket", order_by="Article.id", foreign_keys="Article.ticket_id"
    )
    history: Mapped[list[History]] = relationship(
        back_populates="ticket", order_by="History.id", foreign_keys="History.ticket_id"
    )

    @property
    def cc(self) -> list[str]:
        return list(json.loads(self.cc_json or "[]"))

    @cc.setter
    def cc(self, value: list[str]) -> None:
        self.cc_json = dumps(sorted(set(value)))

    @property
    def tags(self) -> list[str]:
        return list(json.loads(self.tags_json or "[]"))

    @tags.setter
    def tags(self, value: list[str]) -> None:
        self.tags_json = dumps(sorted(set(value)))

    @property
    def is_closed(self) -> bool:
        return self.state.startswith("closed") or self.state == "merged"


# The web pages' aggregates (migration 0012_webui): counts by queue and state from the
# index alone; tickets opened and closed per day by range.
Index("ix_tickets_queue_state", Ticket.queue, Ticket.state)
Index("ix_tickets_created_at", Ticket.created_at)
Index("ix_tickets_closed_at", Ticket.closed_at)


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_id: Mapped[str | None] = mapped_column(String(998), nullable=True)
    from_addr: Mapped[str] = mapped_column(String(512), default="")
    to_json: Mapped[str] = mapped_column(Text, default="[]")
    cc_json: Mapped[str] = mapped_column(Text, default="[]")
    subject: Mapped[str] = mapped_column(Text, default="")
    sender_type: Mapped[str] = mapped_column(String(16), default="customer")
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    kind: Mapped[str] = mapped_column(String(32), default="mail")  # mail|autoreply|bounce|...
    body: Mapped[str] = mapped_column(Text, default="")
    # sha256 of the bytes as received; unique for inbound mail, which is what makes a
    # redelivery of identical bytes a no-op. Outbound articles leave it NULL.
    raw_sha256: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    # same mail, other trace headers (intake.contentkey): unique, a retry/copy is one article
    content_sha256: Mapped[str | None] = mapped_column(String(64), unique=True, index=True,
                                                       nullable=True)
    raw_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    raw_size: Mapped[int] = mapped_column(BigInteger, default=0)
    envelope_json: Mapped[str] = mapped_column(Text, default="{}")
    notes_json: Mapped[str] = mapped_column(Text, default="[]")
    verified: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    has_html: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # None: not yet seen

    ticket: Mapped[Ticket] = relationship(back_populates="articles", foreign_keys=[ticket_id])
    attachments: Mapped[list[AttachmentRow]] = relationship(order_by="AttachmentRow.id")


class AttachmentRow(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64))


class History(Base):
    __tablename__ = "history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    event: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(ADDR), default="system")
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    details_json: Mapped[str] = mapped_column(Text, default="{}")

    ticket: Mapped[Ticket] = relationship(back_populates="history", foreign_keys=[ticket_id])


class MessageIdRow(Base):
    """Every Message-ID seen or sent for a ticket: the first threading rule looks here."""

    __tablename__ = "message_ids"
    __table_args__ = (UniqueConstraint("message_id", "ticket_id", name="uq_message_ids"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(MSGID))  # found by uq_message_ids (0020)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    direction: Mapped[str] = mapped_column(String(8), default="in")  # in | out
    outbox_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Customer(Base):
    """Made by a first mail or `customers import` (only an import sets `registered`)."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(ADDR), unique=True)  # lowercase
    customer_id: Mapped[str | None] = mapped_column(String(100), nullable=True)  # unused
    name: Mapped[str] = mapped_column(String(255), default="")
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    company: Mapped[str | None] = mapped_column(String(ADDR), nullable=True, index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    company_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    registered: Mapped[bool] = mapped_column(Boolean, default=False)  # imported: "known"


class Counter(Base):
    """Database-backed counters (ticket numbers): one row, incremented under a row lock."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Blob(Base):
    """Article store in `database` mode: raw mails and attachments by sha256."""

    __tablename__ = "blobs"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary().with_variant(LargeBinary(2**32 - 1), "mysql"))


class OutboxMail(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # autoreply|answer|notification|result
    mail_from: Mapped[str] = mapped_column(String(ADDR))  # envelope sender (VERP)
    rcpt_json: Mapped[str] = mapped_column(Text)  # envelope recipients
    to_addr: Mapped[str] = mapped_column(String(512), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(MSGID))  # never looked up by (0021)
    raw: Mapped[bytes] = mapped_column(LargeBinary().with_variant(LargeBinary(2**32 - 1), "mysql"))
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # settles that raised for this row: at outbox.SETTLE_LIMIT it is failed (issue 11)
    settle_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    spec_json: Mapped[str | None] = mapped_column(Text, nullable=True)  # outbound/deferred.py


class OutboxAttempt(Base):
    __tablename__ = "outbox_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class AutoResponseCount(Base):
    """Auto-responses sent per sender per day (SPEC 8's cap)."""

    __tablename__ = "autoresponse_counts"

    address: Mapped[str] = mapped_column(String(ADDR), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    count: Mapped[int] = mapped_column(Integer, default=0)


class MailboxState(Base):
    """Where fetching one mailbox stands (SPEC 17): the IMAP position, who holds the lease,
    and the last success and error that `maildesk fetch --status` shows."""

    __tablename__ = "mailbox_state"

    name: Mapped[str] = mapped_column(String(ADDR), primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    # After a UIDVALIDITY change, UIDs up to this one are checked by Message-ID before
    # their bodies are fetched again (mail already stored under the old UIDs).
    recheck_below: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    auth_failed: Mapped[bool] = mapped_column(Boolean, default=False)
    fetched: Mapped[int] = mapped_column(BigInteger, default=0)


class MailboxUidl(Base):
    """POP3 messages already stored, by UIDL: POP3 has no UIDVALIDITY nor ordered UIDs."""

    __tablename__ = "mailbox_uidls"

    mailbox: Mapped[str] = mapped_column(String(ADDR), primary_key=True)
    uidl: Mapped[str] = mapped_column(String(ADDR), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ApiToken(Base):
    """An HTTP API token (SPEC 14): only its sha256 is kept; shown once at creation."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_api_tokens_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))  # shown by `token list`, to tell apart
    scope: Mapped[str] = mapped_column(String(8))  # read | write
    queues_json: Mapped[str] = mapped_column(Text, default="[]")  # [] = every queue
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    @property
    def queues(self) -> list[str]:
        return list(json.loads(self.queues_json or "[]"))


class Timer(Base):
    """A due time of a ticket (SPEC 13): one row per ticket and kind (reminder, auto-close,
    an SLA clock, a helpdesk level, a lock). `due_at` is when the scheduler acts next
    (indexed: it sleeps until the smallest); an SLA clock also keeps its `deadline`, the
    business `remaining` while pending stops it, and `stage` (0 running, 1 warned,
    2 breached)."""

    __tablename__ = "timers"
    __table_args__ = (UniqueConstraint("ticket_id", "kind", name="uq_timers_ticket_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str] = mapped_column(String(100), default="")
    due_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    deadline: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    remaining: Mapped[float | None] = mapped_column(Float, nullable=True)
    stage: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class WebSession(Base):
    """A signed-in browser (SPEC 15): the cookie holds a random token, this row only its
    sha256; deleting the row ends the session wherever the cookie is used."""

    __tablename__ = "web_sessions"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_web_sessions_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # agent | customer
    address: Mapped[str] = mapped_column(String(ADDR), index=True)
    csrf: Mapped[str] = mapped_column(String(64))  # the synchronizer token's secret
    lang: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class WebLoginLink(Base):
    """A one-time login link mailed to an address: only the token's sha256 is kept."""

    __tablename__ = "web_login_links"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_web_login_links_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(ADDR))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class WebAttempt(Base):
    """One login request or password try, by key (`address:...`, `client:...`): counted
    in the database so the limits hold across daemons on one database."""

    __tablename__ = "web_attempts"
    __table_args__ = (Index("ix_web_attempts_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(ADDR))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
