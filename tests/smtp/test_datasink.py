"""DataSink (issue 20): small mails stay in memory, big ones go to an unnamed file on the
storage disk as they arrive and come back byte for byte; a refused mail keeps nothing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from maildesk.smtp.datasink import DataSink


def _fill(sink: DataSink, lines: list[bytes]) -> None:
    async def run() -> None:
        for line in lines:
            if sink.add(line):
                await sink.flush()
    asyncio.run(run())


def _open(identity: tuple[int, int]) -> int:
    """How many of this process's descriptors are open on the file (device, inode): the
    sink's own file, whatever other descriptors earlier tests' threads or the garbage
    collector open or close meanwhile (a count of all of them failed once in CI)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            info = os.stat(f"/proc/self/fd/{fd}")
        except OSError:  # closed since the listing
            continue
        count += (info.st_dev, info.st_ino) == identity
    return count


def test_small_data_stays_in_memory(tmp_path: Path) -> None:
    sink = DataSink(tmp_path, spill_at=100)
    _fill(sink, [b"a\r\n", b"b\r\n"])
    assert not sink.spilled
    assert sink.read() == b"a\r\nb\r\n"


def test_big_data_spills_to_a_nameless_file_and_reads_back(tmp_path: Path) -> None:
    lines = [f"line {n}\r\n".encode() for n in range(100_000)]
    sink = DataSink(tmp_path, spill_at=1000)
    _fill(sink, lines)
    assert sink.spilled
    assert list(tmp_path.iterdir()) == []  # no name: nothing to clean up after a crash
    assert sink.read() == b"".join(lines)
    assert not sink.spilled  # read closes the file


def test_clear_drops_the_file(tmp_path: Path) -> None:
    sink = DataSink(tmp_path, spill_at=10)
    _fill(sink, [b"x" * 100 + b"\r\n"] * 5000)
    assert sink.spilled
    file = sink._file
    assert file is not None
    info = os.fstat(file.fileno())
    identity = (info.st_dev, info.st_ino)
    assert info.st_nlink == 0 and _open(identity) == 1  # no name; one descriptor
    sink.clear()
    assert not sink.spilled and file.closed and _open(identity) == 0
    assert sink.read() == b""


def test_without_a_folder_everything_stays_in_memory() -> None:
    sink = DataSink(None, spill_at=10)
    _fill(sink, [b"y" * 100 + b"\r\n"] * 3000)
    assert not sink.spilled
    assert len(sink.read()) == 102 * 3000


def test_a_missing_folder_keeps_everything_in_memory(tmp_path: Path) -> None:
    sink = DataSink(tmp_path / "gone", spill_at=10)
    _fill(sink, [b"z" * 100 + b"\r\n"] * 3000)
    assert not sink.spilled
    assert len(sink.read()) == 102 * 3000
