"""The chunked intake helpers give what their whole-mail versions gave (issue 20, big mails
in bounded memory): the same base64 bytes as mail-parser's lenient decoder, the same
content key as hashing the converted mail at once, the same tree as BytesParser."""

from __future__ import annotations

import base64
import binascii
import hashlib
import random
import re
from email.parser import BytesHeaderParser, BytesParser
from email.policy import compat32

import pytest
from mailparser.utils import decode_base64_payload

from maildesk.intake import contentkey, parse, rawparts
from maildesk.intake.contentkey import TRACE_HEADERS, content_key

pytestmark = pytest.mark.unit


def _whole_key(raw: bytes, message_id: str | None) -> str:
    """content_key as it was written before it read in chunks."""
    text = raw.replace(b"\r\n", b"\n")
    match = re.compile(rb"\r?\n\r?\n").search(text)
    head, body = (text[:match.start()], text[match.end():]) if match else (text, b"")
    digest = hashlib.sha256()
    digest.update(b"message-id:" + (message_id or "").encode("utf-8", "surrogateescape"))
    digest.update(b"\0")
    keep = True
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if keep:
                digest.update(line + b"\n")
            continue
        keep = line.split(b":", 1)[0].strip().lower().decode("ascii", "replace") \
            not in TRACE_HEADERS
        if keep:
            digest.update(line + b"\n")
    digest.update(b"\0")
    digest.update(body.rstrip(b"\r\n"))
    return digest.hexdigest()


def _attempt(fn, *args):  # type: ignore[no-untyped-def]
    try:
        return fn(*args)
    except (binascii.Error, ValueError):
        return "error"


@pytest.mark.parametrize("chunk", [1, 3, 7, 1 << 20])
def test_base64_matches_mailparser(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(rawparts, "_BASE64_CHUNK", chunk)
    rng = random.Random(chunk)
    alphabet = "ABCxyz019+/=\r\n -_!\udc80é"
    for i in range(3000):
        if i % 2:
            text = list(base64.encodebytes(rng.randbytes(rng.randrange(60))).decode())
            for _ in range(rng.randrange(4)):  # damage it as senders do
                if text:
                    text.insert(rng.randrange(len(text)), rng.choice(alphabet))
                    del text[rng.randrange(len(text))]
            payload = "".join(text)
        else:
            payload = "".join(rng.choice(alphabet) for _ in range(rng.randrange(40)))
        assert _attempt(rawparts.b64decode_lenient, payload) == \
            _attempt(decode_base64_payload, payload), repr(payload)


@pytest.mark.parametrize("chunk", [1, 2, 5, 1 << 20])
def test_content_key_matches_whole_mail(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(contentkey, "_CHUNK", chunk)
    rng = random.Random(chunk)
    pieces = [b"\r", b"\n", b"\r\n", b"a", b"Received: x", b"From: y", b" ", b"\t", b":"]
    for _ in range(4000):
        raw = b"".join(rng.choice(pieces) for _ in range(rng.randrange(25)))
        assert content_key(raw, "id@x") == _whole_key(raw, "id@x"), repr(raw)


def test_fed_tree_matches_bytes_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse, "FEED_CHUNK", 5)  # lines and CRLFs split between chunks
    raw = (b"From: a@x\r\nSubject: caf\xc3\xa9\r\n folded\r\nContent-Type: multipart/mixed;"
           b" boundary=b\r\n\r\npre\r\n--b\r\nContent-Type: text/plain\r\n\r\nh\xe9llo\r\r\n"
           b"--b\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n")
    fed, whole = parse._tree(raw), BytesParser(policy=compat32).parsebytes(raw)
    assert fed.as_string() == whole.as_string()
    assert [p.get_payload() for p in fed.walk()][1:] == \
        [p.get_payload() for p in whole.walk()][1:]
    assert parse.header_tree(raw).items() == BytesHeaderParser(policy=compat32) \
        .parsebytes(raw).items()


def test_line_ends_made_lf_the_cheap_way_are_the_same() -> None:
    """Issue 20: a text whose every CR begins a CRLF has its CRs dropped (one-character
    work); any other is converted as before. Same result for every mix of line ends."""
    import random
    import re

    from maildesk.intake import contentkey, parse

    newlines = re.compile(r"\r\n?")
    rng = random.Random(20)
    for _ in range(20000):
        text = "".join(rng.choice(["a", "\r", "\n", "\r\n", "b ", "é", "\r\r\n"])
                       for _ in range(rng.randint(0, 16)))
        assert parse._lf(text) == newlines.sub("\n", text), repr(text)
        data = text.encode()
        assert contentkey._crlf_to_lf(data) == data.replace(b"\r\n", b"\n"), repr(data)
    big = b"From: a@example.org\r\n\r\n" + b"line\r\n" * 400_000 + b"lone\rcr\r\n"
    assert b"".join(contentkey._lf_chunks(big)) == big.replace(b"\r\n", b"\n")
    for text in (big.decode(), big.decode().replace("lone\rcr", "")):  # ASCII: by bytes
        for tail in ("", "\r", "é", "\u20ac\r\n"):
            assert parse._lf(text + tail) == newlines.sub("\n", text + tail)


@pytest.mark.parametrize("chunk", [1, 3, 70, 1 << 20])
def test_content_key_of_long_bodies_and_line_end_runs(monkeypatch: pytest.MonkeyPatch,
                                                      chunk: int) -> None:
    """The body's last line ends are found from its last bytes, or from all of it when
    those are all line ends: runs longer than that tail, and chunks of nothing else."""
    monkeypatch.setattr(contentkey, "_CHUNK", chunk)
    rng = random.Random(chunk + 1)
    for _ in range(300):
        body = b"".join(rng.choice([b"a", b"\r\n", b"\n", b"\r", b"\r\n" * 40, b"x" * 70])
                        for _ in range(rng.randrange(12)))
        raw = b"From: y\r\nReceived: z\r\n\r\n" + body
        assert content_key(raw, None) == _whole_key(raw, None), repr(raw)
