"""The article store: raw mails and attachments, byte for byte, addressed by sha256.

Filesystem mode writes to a temporary file, fsyncs it, renames it into place and fsyncs
the folder, all before the database commit that points at it; a crash in between leaves
at worst an unreferenced file, never a reference to a missing one. Database mode keeps
the bytes in the `blobs` table, inside the caller's transaction, for several daemons
without a shared disk.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk.durable import fsync_dir, make_dirs_durably, write_durably
from maildesk.store.models import Blob

__all__ = ["ArticleStore", "PendingFiles", "fsync_dir", "make_dirs_durably", "sha256",
           "write_durably"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# fsync waits on the disk with the GIL released: a batch's files are synced side by side,
# which a disk with a queue (NVMe, a virtio disk) serves in about the time of one.
_SYNCERS = ThreadPoolExecutor(8, "maildesk-fsync")


class PendingFiles:
    """The files of a group commit: written at once, fsynced and renamed into place all
    together by `flush`, which must return before the commit that points at them."""

    def __init__(self) -> None:
        self._files: dict[Path, tuple[int, str]] = {}  # final path -> (open fd, temp name)
        self._folders: set[Path] = set()  # parents of folders made: fsynced by `flush`

    def __len__(self) -> int:
        return len(self._files)

    def holds(self, path: Path) -> bool:
        return path in self._files

    def make_dirs(self, folder: Path) -> None:
        """`mkdir -p`, each new folder's entry fsynced by `flush` beside the files' (two
        levels of 256 folders: most of the first few thousand mails make one, and an
        fsync of its parent each in the ingest thread, one after the other, cost a
        third of a batch's fsync time)."""
        missing = []
        probe = folder
        while not probe.is_dir():
            missing.append(probe)
            probe = probe.parent
        for made in reversed(missing):
            try:
                made.mkdir()
            except FileExistsError:
                if not made.is_dir():
                    raise
            self._folders.add(made.parent)

    def add(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        self._files[path] = (fd, tmp)

    def read(self, path: Path) -> bytes | None:
        """A pending file's bytes (the batch reading what it wrote), else None."""
        entry = self._files.get(path)
        return None if entry is None else Path(entry[1]).read_bytes()

    def flush(self) -> None:
        """fsync every file, rename each into place, fsync each folder once (the files'
        and the parents of folders made), side by side."""
        items = list(self._files.items())
        try:
            list(_SYNCERS.map(lambda item: os.fsync(item[1][0]), items))
        finally:
            for _, (fd, _tmp) in items:
                os.close(fd)
        for path, (_fd, tmp) in items:
            os.replace(tmp, path)
            del self._files[path]
        folders = {path.parent for path, _ in items} | self._folders
        list(_SYNCERS.map(fsync_dir, folders))
        self._folders.clear()

    def discard(self) -> None:
        """Drop what was not flushed (the batch failed): nothing points at it."""
        for fd, tmp in self._files.values():
            os.close(fd)
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        self._files.clear()
        self._folders.clear()  # folders made stay, empty: harmless, and reused


class ArticleStore:
    def __init__(self, root: Path, mode: str = "filesystem") -> None:
        self.root = root / "articles"
        self.mode = mode
        self._local = threading.local()

    @contextmanager
    def deferred(self) -> Iterator[PendingFiles]:
        """Within the block, this thread's `put` leaves each file pending: the caller
        flushes them (all fsyncs at once) before its commit; what is left is discarded."""
        pending = PendingFiles()
        self._local.pending = pending
        try:
            yield pending
        finally:
            self._local.pending = None
            pending.discard()

    def put(self, session: Session, data: bytes) -> str:
        """Store durably (before the caller commits); return the key."""
        key = sha256(data)
        if self.mode == "database":
            if session.get(Blob, key) is None:
                session.add(Blob(key=key, data=data))
            return key
        path = self._path(key)
        pending: PendingFiles | None = getattr(self._local, "pending", None)
        if pending is not None and pending.holds(path):
            return key
        if path.exists() and path.stat().st_size == len(data):
            return key
        if pending is not None:
            pending.make_dirs(path.parent)
            pending.add(path, data)
        else:
            make_dirs_durably(path.parent)
            write_durably(path, data)
        return key

    def get(self, session: Session, key: str) -> bytes:
        if self.mode == "database":
            data = session.execute(select(Blob.data).where(Blob.key == key)).scalar_one_or_none()
            if data is not None:
                return bytes(data)
        path = self._path(key)
        pending: PendingFiles | None = getattr(self._local, "pending", None)
        held = pending.read(path) if pending is not None else None
        return held if held is not None else path.read_bytes()

    def _path(self, key: str) -> Path:
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a sha256 key: {key!r}")
        return self.root / key[:2] / key[2:4] / key
