"""Files that survive a crash: written to a temporary name, fsynced, renamed into place,
and the folder fsynced. Used by the inbound spool and the article store alike, so it sits
below both (intake must not import the store).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["fsync_dir", "make_dirs_durably", "write_durably"]


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
