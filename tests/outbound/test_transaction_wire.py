"""The fast paths of the outbound transaction's per-mail work (issue 20) give what the
forms they replaced gave, kept here as oracles, on many inputs."""

from __future__ import annotations

import asyncio
import random

import aiosmtplib
import pytest
from aiosmtplib.protocol import normalize_message_line_endings

from maildesk.outbound.sender import _utf8_options
from maildesk.outbound.transaction import _MAX_LINE, _Replies, wire_data


def old_wire_data(raw: bytes) -> tuple[bytes, int]:
    lf = raw.count(b"\n")
    if lf != raw.count(b"\r") or lf != raw.count(b"\r\n") or not raw.endswith(b"\r\n"):
        raw = normalize_message_line_endings(raw)
    size = len(raw)
    if b"\n." in raw:
        raw = raw.replace(b"\r\n.", b"\r\n..")
    if raw[:1] == b".":
        raw = b"." + raw
    return raw, size


def old_utf8_options(sender: str, recipients: list[str], raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    if sender.isascii() and all(r.isascii() for r in recipients) and head.isascii():
        return []
    return ["SMTPUTF8"]


FIXED = [b"", b"\r\n", b".", b".\r\n", b"a", b"a\r\n", b"a\n", b"a\r", b"\n", b"\r",
         b"a\r\nb\r\n", b"a\r\n.b\r\n", b"a\r\n..\r\n", b"a\nb\r\n", b"a\rb\r\n",
         b"a\r\r\n", b"a\r\n\n", b"\n.a\r\n", b"a\r\nb", b"Subject: x\r\n\r\nbody\r\n",
         b"x" * 5000 + b"\r\n", b"a\r\n" * 300 + b".\r\n" + b"b\r\n"]


@pytest.mark.parametrize("raw", FIXED)
def test_wire_data_fixed(raw: bytes) -> None:
    assert wire_data(raw) == old_wire_data(raw)


def test_wire_data_random() -> None:
    rng = random.Random(20)
    alphabet = [b"a", b"b", b".", b"\r", b"\n", b"\r\n", b"\r\n.", b" ", b"\xc3\xa9"]
    weights = [20, 20, 3, 1, 1, 10, 2, 5, 1]
    for _ in range(20000):
        raw = b"".join(rng.choices(alphabet, weights, k=rng.randrange(0, 40)))
        assert wire_data(raw) == old_wire_data(raw), raw


def test_wire_data_rendered_mail() -> None:
    lines = [b"From: a@example.com", b"Subject: hello", b""] + [
        b"line %d of the body with some words" % n for n in range(200)]
    raw = b"\r\n".join(lines) + b"\r\n"
    assert wire_data(raw) == old_wire_data(raw) == (raw, len(raw))
    assert wire_data(raw)[0] is raw  # not copied


def test_utf8_options_random() -> None:
    rng = random.Random(5)
    parts = [b"a", b"\r\n", b"\r\n\r\n", b"\xc3\xa9", b"b: c"]
    for _ in range(5000):
        raw = b"".join(rng.choices(parts, [20, 5, 1, 1, 5], k=rng.randrange(0, 30)))
        for sender, recipients in (("a@example.com", ["b@example.com"]),
                                   ("é@example.com", ["b@example.com"]),
                                   ("a@example.com", ["b@example.com", "ü@example.com"])):
            assert _utf8_options(sender, recipients, raw) == \
                old_utf8_options(sender, recipients, raw)


class _OldReplies(_Replies):
    """The reply parser before the one-line fast path (issue 20): every line by `_line`."""

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line, start = bytes(buffer[start:end + 1]), end + 1
            if not self._line(line):
                return
        del buffer[:start]
        if len(buffer) > _MAX_LINE:
            self._fail(aiosmtplib.SMTPResponseException(-1, "Response too long"))
        elif len(self._replies) >= self._ahead:
            self._wake()


def _parsed(kind: type[_Replies], chunks: list[bytes]) -> tuple[object, ...]:
    loop = asyncio.new_event_loop()
    try:
        replies = kind(loop)
        for chunk in chunks:
            replies.data_received(chunk)
        broken = replies.broken
        return (list(replies._replies), type(broken), str(broken) if broken else None,
                bytes(replies._buffer), replies._size)
    finally:
        loop.close()


def test_replies_parsed_as_before() -> None:
    rng = random.Random(7)
    pieces = [b"250 OK\r\n", b"250 2.0.0 Ok: queued as X\r\n", b"354 End data\r\n",
              b"250-first\r\n", b"250-second\r\n", b"421 4.3.2 bye\r\n", b"550 no\n",
              b"250\r\n", b"250 \r\n", b"25x oops\r\n", b"2500 odd\r\n", b"250 \xff\xfe\r\n",
              b"250 " + b"x" * 9000 + b"\r\n", b"250-" + b"y" * 8000 + b"\r\n", b"\r\n"]
    for _ in range(3000):
        stream = b"".join(rng.choices(pieces, k=rng.randrange(1, 8)))
        cuts = sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, rng.randrange(4))))
        chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        assert _parsed(_Replies, chunks) == _parsed(_OldReplies, chunks), chunks
