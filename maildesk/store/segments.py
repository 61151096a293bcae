"""Segment files: the article store's mails and attachments appended to a few big files.

A file per mail cost, on a fresh desk, up to three `mkdir`, a temporary file, a rename and
two fsyncs of folders: 0.4-1.1 ms of CPU per mail measured on ext4, 0.2-0.3 ms once the
two levels of folders exist, a tenth of the daemon's CPU per mail (issue 20). The files of a
group commit (or of one mail in process) are instead appended together to this process's
current segment, `articles/segments/<name>.seg`, with one write and one fsync before the
commit, and where each blob starts is a row of `article_segments` in the same transaction:
a crash before the commit leaves bytes no row points at (harmless, as an unreferenced file
was), never a row pointing at bytes that are not on the disk.

Each process appends only to segments it began (no lock between processes: a `deliver`
beside the daemon begins its own); a segment is never rewritten, and a new one is begun
past `SEGMENT_MAX` bytes. Blobs are deduplicated by key, as files were: a key already in a
segment or in a file is not written again. Readers (`ArticleStore.get`, `verify`) look in
the file layout first (everything written before segments, and single puts outside a
batch), then here.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import BigInteger, String, Table, bindparam, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from maildesk.durable import fsync_dir, make_dirs_durably
from maildesk.store import lean
from maildesk.store.models import Base

__all__ = ["ArticleSegment", "SEGMENT_MAX", "Segments"]

SEGMENT_MAX = 256 << 20  # bytes in one segment before the next is begun
CHUNK = 1 << 20  # bytes per read when a blob is read in chunks (verify)
_LOOKUP = 500  # keys per IN (...) of the dedupe look-up
_JOIN_MAX = 1 << 20  # bytes of a batch joined into one write; bigger ones written per blob


class ArticleSegment(Base):
    """Where a blob of the article store lies in a segment file (store/segments.py)."""

    __tablename__ = "article_segments"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    segment: Mapped[str] = mapped_column(String(64), primary_key=True)
    start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    length: Mapped[int] = mapped_column(BigInteger)


# Cached Core statements (a fresh SELECT with IN (...) and an ORM bulk INSERT per mail cost
# a tenth of a 2 KB mail's ingest, issue 20); one key, the usual mail, is an `=`: an
# expanding IN rewrites the SQL text on every execution.
_TABLE: Table = ArticleSegment.__table__  # type: ignore[assignment]
_KNOWN = select(_TABLE.c.key).where(_TABLE.c.key.in_(bindparam("keys", expanding=True)))
_KNOWN_ONE = select(_TABLE.c.key).where(_TABLE.c.key == bindparam("key"))
_INSERT = insert(_TABLE)
# A group commit's few keys (a batch of mails, their attachments): an IN of that many
# plain parameters, one cached statement per count, which `store.lean` runs on the DBAPI
# cursor; an expanding IN goes through SQLAlchemy's whole execution path each time
# (with the INSERT's, ~0.2 ms of a batch's ~0.45 ms here, issue 20). Bounded: lean keeps
# a plan per statement.
_FEW = 16
_KNOWN_FEW = {count: select(_TABLE.c.key).where(_TABLE.c.key.in_(
    [bindparam(f"k{i}") for i in range(count)])) for count in range(2, _FEW + 1)}


class Segments:
    """This process's current segment under `folder`, and reads from any segment."""

    def __init__(self, folder: Path, limit: int = SEGMENT_MAX) -> None:
        self.folder = folder
        self.limit = limit
        self._lock = threading.Lock()
        self._name = ""  # the segment this process appends to; "" until the first append
        self._size = 0
        self._pid = 0

    def store(self, session: Session, blobs: dict[str, bytes],
              exists: Callable[[str, int], bool]) -> None:
        """Append the blobs not stored yet (by key: in a segment, or `exists` as a file),
        fsync, and add their rows to `session`'s transaction. Returns once the bytes are
        durable; the caller commits after."""
        keys = list(blobs)
        known: set[str] = set()
        connection = session.connection()
        if len(keys) == 1:
            known.update(lean.execute(connection, _KNOWN_ONE, {"key": keys[0]}).scalars())
        elif len(keys) in _KNOWN_FEW:
            known.update(lean.execute(connection, _KNOWN_FEW[len(keys)],
                                      {f"k{i}": key for i, key in enumerate(keys)}).scalars())
        else:
            for n in range(0, len(keys), _LOOKUP):
                known.update(connection.execute(
                    _KNOWN, {"keys": keys[n:n + _LOOKUP]}).scalars())
        new = [key for key in keys if key not in known and not exists(key, len(blobs[key]))]
        if not new:
            return
        name, start = self._append([blobs[key] for key in new])
        rows = []
        for key in new:
            length = len(blobs[key])
            rows.append({"key": key, "segment": name, "start": start, "length": length})
            start += length
        lean.execute(connection, _INSERT, rows if len(rows) > 1 else rows[0])

    def _append(self, chunks: list[bytes]) -> tuple[str, int]:
        """The chunks at the end of this process's segment and one fsync; (the segment's
        name, where the first chunk starts). Small chunks go in one write; big ones (a 25
        MiB mail, its attachments) are written one by one from the bytes the caller holds:
        joined, they would be one more copy of the whole batch at the memory peak (issue 20's
        4x budget for a 25 MiB mail). The file is opened per append: no descriptor outlives
        the call (a desk's App may be closed without a word to its store)."""
        total = sum(map(len, chunks))
        if total <= _JOIN_MAX:
            chunks = [b"".join(chunks)]
        with self._lock:
            fresh = not self._name or self._pid != os.getpid() or self._size >= self.limit
            if fresh:
                make_dirs_durably(self.folder)
                stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
                self._name = f"{stamp}-{os.getpid()}-{secrets.token_hex(6)}.seg"
                self._pid = os.getpid()
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND
            else:
                flags = os.O_WRONLY | os.O_APPEND
            fd = os.open(self.folder / self._name, flags, 0o640)
            try:
                start = os.lseek(fd, 0, os.SEEK_END)
                for chunk in chunks:
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            self._size = start + total
            if fresh:
                fsync_dir(self.folder)  # the new segment's name survives a crash too
            return self._name, start

    # -- reading ---------------------------------------------------------------------------

    def locate(self, session: Session, key: str) -> tuple[Path, int, int] | None:
        """(segment file, start, length) of `key`, or None when no segment holds it."""
        row = session.execute(
            select(ArticleSegment.segment, ArticleSegment.start, ArticleSegment.length)
            .where(ArticleSegment.key == key).limit(1)).first()
        if row is None:
            return None
        if "/" in row.segment or row.segment.startswith("."):
            raise ValueError(f"not a segment name: {row.segment!r}")
        return self.folder / row.segment, int(row.start), int(row.length)

    def chunks(self, where: tuple[Path, int, int], chunk: int = CHUNK) -> Iterator[bytes]:
        """The blob's bytes, `chunk` at a time; short when the segment was cut short."""
        path, start, length = where
        fd = os.open(path, os.O_RDONLY)
        try:
            end = start + length
            while start < end:
                data = os.pread(fd, min(chunk, end - start), start)
                if not data:
                    return
                start += len(data)
                yield data
        finally:
            os.close(fd)

    def read(self, where: tuple[Path, int, int]) -> bytes:
        return b"".join(self.chunks(where, where[2] or 1))
