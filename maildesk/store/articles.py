"""The article store: raw mails and attachments, byte for byte, addressed by sha256.

Filesystem mode: the mails and attachments stored by the mail path (a group commit, or one
mail in process) are appended to a segment file of this process with one write and one
fsync, before the database commit that records where they lie (store/segments.py); a put
outside such a batch (an agent's answer, the tests) writes a file of its own: a temporary
file, fsynced, renamed into place, the folder fsynced, also before the commit that points
at it. Either way a crash in between leaves at worst unreferenced bytes, never a reference
to missing ones. Reads look for the file first (every desk's older articles), then in the
segments. Database mode keeps the bytes in the `blobs` table, inside the caller's
transaction, for several daemons without a shared disk.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk.durable import fsync_dir, make_dirs_durably, write_durably
from maildesk.store.models import Blob
from maildesk.store.segments import CHUNK, Segments

__all__ = ["ArticleStore", "PendingFiles", "fsync_dir", "make_dirs_durably", "sha256",
           "write_durably"]


_SHA256_HEX = re.compile(r"[0-9a-f]{64}")  # a key: lowercase hex, nothing else (no "\n")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PendingFiles:
    """The blobs of a group commit (or of one mail in process): kept by `put`, appended
    to a segment together by `flush`, which must return before the commit that points at
    them (and adds the rows saying where they lie to the same transaction)."""

    def __init__(self, store: ArticleStore) -> None:
        self._store = store
        self._blobs: dict[str, bytes] = {}
        self._session: Session | None = None  # the transaction the puts came from

    def __len__(self) -> int:
        return len(self._blobs)

    def holds(self, key: str) -> bool:
        return key in self._blobs

    def add(self, session: Session, key: str, data: bytes) -> None:
        self._blobs.setdefault(key, data)
        self._session = session

    def read(self, key: str) -> bytes | None:
        """A pending blob's bytes (the batch reading what it stored), else None."""
        return self._blobs.get(key)

    def flush(self, session: Session | None = None) -> None:
        """Every blob durable (one write, one fsync), its place recorded in `session` (by
        default the one the puts came with); call it before that session commits."""
        session = session or self._session
        if self._blobs and session is not None:
            self._store.segments.store(session, self._blobs, self._store.has_file)
        self._blobs.clear()

    def discard(self) -> None:
        """Drop what was not flushed (the batch failed): nothing points at it."""
        self._blobs.clear()


class ArticleStore:
    def __init__(self, root: Path, mode: str = "filesystem") -> None:
        self.root = root / "articles"
        self._root = str(self.root)
        self.mode = mode
        self.segments = Segments(self.root / "segments")
        self._local = threading.local()

    @contextmanager
    def deferred(self) -> Iterator[PendingFiles]:
        """Within the block, this thread's `put` leaves each blob pending: the caller
        flushes them (one write, one fsync) before its commit; what is left is dropped."""
        pending = PendingFiles(self)
        self._local.pending = pending
        try:
            yield pending
        finally:
            self._local.pending = None
            pending.discard()

    def put(self, session: Session, data: bytes, key: str | None = None) -> str:
        """Store durably (before the caller commits); return the key. `key`: the sha256 hex
        of `data` when the caller has it already (the pipeline hashes the raw mail before
        its transaction; hashing 100 KB again costs 0.1 ms); it must be that, nothing else."""
        key = key or sha256(data)
        if self.mode == "database":
            if session.get(Blob, key) is None:
                session.add(Blob(key=key, data=data))
            return key
        file = self._file(key)  # ValueError for what is no sha256, pending or not
        pending: PendingFiles | None = getattr(self._local, "pending", None)
        if pending is not None and session is not None:
            pending.add(session, key, data)  # deduplicated by its flush
            return key
        path = Path(file)
        if self.has_file(key, len(data)):
            return key
        make_dirs_durably(path.parent)
        write_durably(path, data)
        return key

    def has_file(self, key: str, size: int) -> bool:
        """A file of the file layout holds `key` (of `size` bytes)."""
        try:
            return os.stat(self._file(key)).st_size == size
        except FileNotFoundError:
            return False

    def get(self, session: Session, key: str) -> bytes:
        if self.mode == "database":
            data = session.execute(select(Blob.data).where(Blob.key == key)).scalar_one_or_none()
            if data is not None:
                return bytes(data)
        path = self._path(key)
        pending: PendingFiles | None = getattr(self._local, "pending", None)
        held = pending.read(key) if pending is not None else None
        if held is not None:
            return held
        try:
            return path.read_bytes()
        except FileNotFoundError:
            where = self.segments.locate(session, key) if session is not None else None
            if where is None:
                raise
            return self.segments.read(where)

    def chunks(self, session: Session, key: str, chunk: int = CHUNK) -> Iterator[bytes]:
        """The bytes under `key` a chunk at a time (verify); FileNotFoundError when neither
        a file nor a segment holds them, ValueError for a key that is no sha256."""
        path = self._path(key)
        try:
            f = path.open("rb")
        except FileNotFoundError:
            where = self.segments.locate(session, key)
            if where is None:
                raise
            yield from self.segments.chunks(where, chunk)
            return
        with f:
            while data := f.read(chunk):
                yield data

    def _file(self, key: str) -> str:
        """`_path` as a string: the mail path asks for one or two a mail, and pathlib's
        three joins cost more than the stat that follows."""
        if _SHA256_HEX.fullmatch(key) is None:
            raise ValueError(f"not a sha256 key: {key!r}")
        return os.path.join(self._root, key[:2], key[2:4], key)

    def _path(self, key: str) -> Path:
        if _SHA256_HEX.fullmatch(key) is None:
            raise ValueError(f"not a sha256 key: {key!r}")
        return self.root / key[:2] / key[2:4] / key
