"""Where the SMTP session puts a mail's data while it arrives: memory for small mails, an
unnamed file on the storage disk for big ones (issue 20, big mails in bounded memory).

A list of lines costs about 1.4x the mail (an object per line) and joining it another 1x,
per concurrent DATA: ten 25 MiB mails at once held 600 MiB before any of them was parsed.
Past `SPILL_AT` the lines go to a temporary file instead, written off the event loop a
quarter MiB at a time, and the mail is read back as one bytes object by the worker
thread that stores it. The file has no name (O_TMPFILE, or unlinked at once): a crash or a
dropped connection leaves nothing to clean up. It lives on the storage folder's disk, not
in /tmp, which is often a tmpfs, that is memory again; the free space check before MAIL
(Handler) covers it.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import IO

__all__ = ["DataSink", "SPILL_AT"]

SPILL_AT = 1 << 20  # bytes kept in memory; a 100 KB mail never touches the disk
WRITE_EVERY = 1 << 18  # bytes gathered before one write to the file


class DataSink:
    """The data of one DATA command: runs of lines in, one bytes object out."""

    def __init__(self, folder: Path | None, spill_at: int = SPILL_AT) -> None:
        self.folder = folder  # None, or not a folder: always in memory (nowhere to spill to)
        self.spill_at = spill_at
        self.size = 0
        self._lines: list[bytes] = []
        self._pending = 0  # bytes in _lines
        self._file: IO[bytes] | None = None

    @property
    def spilled(self) -> bool:
        return self._file is not None

    def add(self, line: bytes) -> bool:
        """Keep a line, or a run of them; True when a write to the file is due (then await
        `flush`). Not a coroutine: most data never goes near the disk."""
        self._lines.append(line)
        self._pending += len(line)
        self.size += len(line)
        if self._file is None:
            if self.folder is None or self.size <= self.spill_at:
                return False
            if not self.folder.is_dir():  # checked once a mail is big, not per mail
                self.folder = None  # no storage folder: everything stays in memory
                return False
        return self._pending >= WRITE_EVERY

    async def flush(self) -> None:
        """Write what is gathered to the file, off the event loop."""
        await asyncio.get_running_loop().run_in_executor(None, self._write)

    def clear(self) -> None:
        """Keep nothing more (the mail is refused); lines are still counted by the caller."""
        self._lines.clear()
        self._pending = 0
        self.close()

    def read(self) -> bytes:
        """The whole mail. Blocking when spilled: call it from a worker thread."""
        if self._file is None:
            return b"".join(self._lines)
        self._write()
        self._file.seek(0)
        data = self._file.read()  # one allocation of the file's size
        self.close()
        return data

    def close(self) -> None:
        """Drop the file (its space is freed: it has no name)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self) -> None:
        if self._file is None:
            assert self.folder is not None
            self._file = tempfile.TemporaryFile(dir=self.folder, prefix=".data-")
        self._file.writelines(self._lines)
        self._lines.clear()
        self._pending = 0
