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
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk.store.models import Blob

__all__ = ["ArticleStore", "fsync_dir", "make_dirs_durably", "sha256", "write_durably"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_durably(path: Path, *chunks: bytes) -> None:
    """Temporary file, fsync, rename into place, fsync the folder: a file that has its
    final name is complete and survives a crash; a failure leaves no partial file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def make_dirs_durably(path: Path) -> None:
    """`mkdir -p` whose new entries survive a crash: each folder made is fsynced into its
    parent (XFS and btrfs may otherwise lose a fresh folder with the files in it)."""
    if path.is_dir():
        return
    missing = []
    probe = path
    while not probe.is_dir():
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            if not folder.is_dir():
                raise
        fsync_dir(folder.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ArticleStore:
    def __init__(self, root: Path, mode: str = "filesystem") -> None:
        self.root = root / "articles"
        self.mode = mode

    def put(self, session: Session, data: bytes) -> str:
        """Store durably (before the caller commits); return the key."""
        key = sha256(data)
        if self.mode == "database":
            if session.get(Blob, key) is None:
                session.add(Blob(key=key, data=data))
            return key
        path = self._path(key)
        if path.exists() and path.stat().st_size == len(data):
            return key
        make_dirs_durably(path.parent)
        write_durably(path, data)
        return key

    def get(self, session: Session, key: str) -> bytes:
        if self.mode == "database":
            data = session.execute(select(Blob.data).where(Blob.key == key)).scalar_one_or_none()
            if data is not None:
                return bytes(data)
        return self._path(key).read_bytes()

    def _path(self, key: str) -> Path:
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a sha256 key: {key!r}")
        return self.root / key[:2] / key[2:4] / key
