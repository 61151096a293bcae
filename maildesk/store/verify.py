"""`maildesk verify`: every stored mail and attachment against its sha256, every row
against its file. Read-only: it reports what is missing or damaged and changes nothing
(a damaged file is evidence; restoring it from a backup is the admin's call).

Each content key is read and hashed once, in chunks, however many rows share it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk.store.articles import ArticleStore
from maildesk.store.models import Article, AttachmentRow, Blob, Ticket

__all__ = ["Problem", "Report", "check_key", "verify_store"]

CHUNK = 1 << 20


@dataclass(frozen=True)
class Problem:
    article: int
    ticket: str
    what: str  # raw | attachment
    key: str
    problem: str  # missing | damaged | size


@dataclass
class Report:
    articles: int = 0
    attachments: int = 0
    files: int = 0  # distinct keys read
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, object]:
        return {"ok": self.ok, "articles": self.articles, "attachments": self.attachments,
                "files": self.files, "problems": [asdict(p) for p in self.problems]}


def check_key(session: Session, store: ArticleStore, key: str) -> tuple[str | None, int]:
    """(None, length) when the bytes stored under `key` hash to it; else (`missing` or
    `damaged`, length read)."""
    digest = hashlib.sha256()
    length = 0
    try:
        for chunk in _chunks(session, store, key):
            digest.update(chunk)
            length += len(chunk)
    except (FileNotFoundError, LookupError):
        return "missing", 0
    except ValueError:  # not a sha256-shaped key in the row
        return "damaged", 0
    return (None if digest.hexdigest() == key else "damaged"), length


def _chunks(session: Session, store: ArticleStore, key: str) -> Iterator[bytes]:
    if store.mode == "database":
        data = session.execute(select(Blob.data).where(Blob.key == key)).scalar_one_or_none()
        if data is not None:
            yield bytes(data)
            return
    yield from store.chunks(session, key, CHUNK)  # a file, or a segment (store/segments.py)


def verify_store(session: Session, store: ArticleStore) -> Report:
    """Check every article's raw mail and every attachment; nothing is written."""
    report = Report()
    seen: dict[str, tuple[str | None, int]] = {}

    def check(key: str, size: int | None) -> str | None:
        if key not in seen:
            seen[key] = check_key(session, store, key)
            report.files += 1
        problem, length = seen[key]
        if problem is None and size is not None and size != length:
            return "size"  # right bytes, but the row records another size
        return problem

    rows = session.execute(
        select(Article.id, Ticket.number, Article.raw_key, Article.raw_sha256,
               Article.raw_size)
        .join(Ticket, Ticket.id == Article.ticket_id).order_by(Article.id))
    for article_id, number, raw_key, raw_sha256, raw_size in rows:
        report.articles += 1
        if raw_key is None:
            continue  # an outbound article: its bytes live in the outbox row
        problem = check(raw_key, raw_size)
        if problem is None and raw_sha256 is not None and raw_sha256 != raw_key:
            problem = "damaged"  # the row's recorded hash is not that of its file
        if problem:
            report.problems.append(Problem(article_id, number, "raw", raw_key, problem))
    attachments = session.execute(
        select(AttachmentRow.article_id, Ticket.number, AttachmentRow.sha256,
               AttachmentRow.size)
        .join(Article, Article.id == AttachmentRow.article_id)
        .join(Ticket, Ticket.id == Article.ticket_id).order_by(AttachmentRow.id))
    for article_id, number, key, size in attachments:
        report.attachments += 1
        problem = check(key, size)
        if problem:
            report.problems.append(Problem(article_id, number, "attachment", key, problem))
    return report
