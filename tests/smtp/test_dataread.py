"""DATA read a chunk at a time (issue 20) answers exactly as the line reader it replaced.

The oracle is that line reader, kept here verbatim in its rules: `readuntil(b"\\n")` on a
real `asyncio.StreamReader` whose limit is the line limit. Both read the same byte streams
(bare LF, bare CR, dots, ".\\r\\n" in every position, lines at and past the limit, the size
limit), the new one in random chunkings; the stored mail, the reply and the bytes left for
the next command must be the same.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from maildesk.smtp import status
from maildesk.smtp.dataread import DataReader
from maildesk.smtp.datasink import DataSink

LINE_LIMIT = 24
PIECES = [b"a", b"text ", b".", b"..", b"\r\n", b"\n", b"\r", b".\r\n", b"\r\n.\r\n",
          b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"x" * 10, b"y" * 23, b"z" * 30, b"MAIL FROM:<a@b>"]


async def _line_reader(stream: bytes, size_limit: int, normalize: bool
                       ) -> tuple[str | None, bytes, bytes]:
    """The line-at-a-time reader of maildesk 0.1 (server.py before issue 20), as the oracle:
    (reply or None, stored mail, bytes left unread)."""
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    reader.feed_data(stream)
    reader.feed_eof()
    kept: list[bytes] = []
    size, error, fragment, after_crlf = 0, None, False, True
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            return "eof", b"", b""
        except asyncio.LimitOverrunError as exc:
            await reader.read(exc.consumed)
            fragment = True
            if error is None:
                error = status.LINE_TOO_LONG
                kept.clear()
            continue
        if fragment:
            fragment = False
            continue
        if line == b".\r\n" and after_crlf:
            break
        after_crlf = line.endswith(b"\r\n")
        if not after_crlf:
            if not normalize and error is None:
                error = status.BARE_LF
                kept.clear()
            line = line[:-1] + b"\r\n"
        size += len(line)
        if error is None and size_limit and size > size_limit:
            error = status.TOO_BIG
            kept.clear()
        if error is None:
            kept.append(line[1:] if line.startswith(b".") else line)
    return error, b"".join(kept) if error is None else b"", await reader.read()


def _chunked(stream: bytes, size_limit: int, normalize: bool, rng: random.Random,
             spill_at: int = 1 << 20) -> tuple[str | None, bytes, bytes]:
    sink = DataSink(None, spill_at=spill_at)
    reader = DataReader(sink, size_limit, LINE_LIMIT, normalize)
    pos = 0
    while pos < len(stream):
        step = rng.choice([1, 2, 3, 5, 8, 40, 200, len(stream)])
        rest = reader.feed(stream[pos:pos + step])
        pos += step
        if rest is not None:
            return reader.error, sink.read() if reader.error is None else b"", \
                rest + stream[pos:]
    return "eof", b"", b""


@pytest.mark.parametrize("normalize", [True, False])
def test_every_chunking_answers_as_the_line_reader(normalize: bool) -> None:
    rng = random.Random(20)
    for _ in range(3000):
        stream = b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 30)))
        stream += rng.choice([b"\r\n.\r\n", b".\r\n", b""]) + b"NOOP\r\n"
        size_limit = rng.choice([0, 10, 60, 200])
        expected = asyncio.run(_line_reader(stream, size_limit, normalize))
        for _ in range(3):
            assert _chunked(stream, size_limit, normalize, rng) == expected, stream


def test_a_long_plain_mail_is_kept_unstuffed_whatever_the_reads() -> None:
    rng = random.Random(7)
    lines = [b"." * (n % 3) + b"line %d\r\n" % n for n in range(5000)]
    stream = b"".join(lines) + b".\r\nQUIT\r\n"
    error, mail, rest = asyncio.run(_line_reader(stream, 0, True))
    assert error is None and rest == b"QUIT\r\n" and mail.count(b"\r\n") == 5000
    for _ in range(20):
        assert _chunked(stream, 0, True, rng) == (error, mail, rest)
    assert _chunked(stream, len(stream) - 20, True, rng) == (status.TOO_BIG, b"", rest)
