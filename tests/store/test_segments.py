"""Segment files (store/segments.py): what an append writes, and what it does not copy."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

from maildesk.store.segments import Segments


def test_blobs_land_where_the_append_says_small_batches_and_big_blobs_alike(
        tmp_path: Path) -> None:
    seg = Segments(tmp_path / "segments")
    small = [os.urandom(100), os.urandom(2_000)]
    big = [os.urandom(3 << 20), b"x" * 10, os.urandom(2 << 20)]
    for batch in (small, big, small):
        name, start = seg._append(batch)
        for blob in batch:
            assert seg.read((seg.folder / name, start, len(blob))) == blob
            start += len(blob)
    assert len(list(seg.folder.iterdir())) == 1  # one segment for this process


def test_big_blobs_are_written_from_the_callers_bytes_not_joined(tmp_path: Path) -> None:
    """A batch holding a 25 MiB mail and its attachments, joined into one bytes, was one
    more copy of all of it at the daemon's memory peak (bench/memory.py: 3.6x -> 5.3x)."""
    seg = Segments(tmp_path / "segments")
    blobs = [os.urandom(4 << 20), os.urandom(4 << 20)]
    tracemalloc.start()
    try:
        seg._append(blobs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"append allocated {peak:,} bytes for 8 MiB of blobs"
