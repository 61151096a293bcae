"""A mail that is not multipart/* or message/* is parsed as its header block, and its body
appended in one piece (issue 20: the feed parser reads a body line by line only to join the
lines again). The tree must be the feed parser's: headers, defects, envelope line, payload,
for every mail of the shared corpus and the header-block edge cases below."""

from __future__ import annotations

import re

import pytest

from maildesk.intake import parse
from maildesk.intake.parse import _single_part_tree, _tree, parse_message
from tests.conftest import CORPUS, needs_corpus
from tests.intake.test_corpus_parse import corpus_inputs

EDGES = [
    b"",
    b"\r\n",
    b"Subject: x\r\n",
    b"Subject: x",
    b"Subject: x\r\n\r\n",
    b"Subject: x\r\n\r\nbody",
    b"Subject: x\n\nbody\n",
    b"Subject: x\r\rbody\r",
    b"Subject: x\r\n\rbody\r\n",
    b"Subject: x\r\nno separator line\r\nmore\r\n",
    b"Subject: x\r\n \r\nstill a continuation\r\n\r\nbody\r\n",
    b"From someone Mon Dec  1 00:00:00 2026\r\nSubject: x\r\n\r\nbody\r\n",
    b"Subject: x\r\nFrom someone at the end\r\n\r\nbody\r\n",
    b"Subject: x\r\nFrom in the middle\r\nTo: y@example.com\r\n\r\nbody\r\n",
    b"Subject: x\r\nFrom at the end, no blank line\r\nbody\r\n",
    b" first line continues nothing\r\nSubject: x\r\n\r\nbody\r\n",
    b": no name\r\nSubject: x\r\n\r\nbody\r\n",
    b"Subject: caf\xe9\r\nX-8bit: \xff\xfe\r\n\r\nbody \xe9\xe8 \x80\r\n",
    b"Content-Type: text/plain; charset=latin-1\r\n\r\n\xe9t\xe9\r\n",
    b"Content-Type: garbage\r\n\r\nbody\r\n",
    b"Content-Type: TEXT/HTML\r\n\r\n<p>x</p>\r\n",
    b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"aGVsbG8=\r\n",
    b"just a body line\r\nand another\r\n",
    b"Subject: x\r\n\r\n" + b"a line\r\n" * 20000,  # more than one 64 KiB chunk
    b"Subject: x\r\nX-Long: " + b"y" * 70000 + b"\r\n\r\nbody\r\n",
    b"Subject: x\r\n\r\nbody with a lone \r in it and \r\n\r\n.\r\n",
]
NOT_SINGLE = [
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
    b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nx\r\n",
    b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n",
    b"Content-Type: multipart/alternative\r\n\r\nno boundary\r\n",
]


def _picture(data: bytes) -> tuple[object, ...] | None:
    msg = _single_part_tree(data)
    if msg is None:
        return None
    return _shape(msg)


def _shape(msg: object) -> tuple[object, ...]:
    return (msg.get_unixfrom(), msg._headers, msg._payload,  # type: ignore[attr-defined]
            [(type(d).__name__, str(d)) for d in msg.defects],  # type: ignore[attr-defined]
            msg.is_multipart(), msg.get_content_type())  # type: ignore[attr-defined]


@pytest.mark.parametrize("data", EDGES)
def test_a_single_part_mail_gives_the_feed_parsers_tree(data: bytes) -> None:
    assert _picture(data) == _shape(_tree(data))


@pytest.mark.parametrize("data", NOT_SINGLE)
def test_multipart_and_message_types_go_through_the_feed_parser(data: bytes) -> None:
    assert _single_part_tree(data) is None
    assert parse_message(data).content_type == _tree(data).get_content_type()


@needs_corpus
def test_every_corpus_mail_gives_the_same_tree_and_parsed_mail(
        monkeypatch: pytest.MonkeyPatch) -> None:
    paths = corpus_inputs()
    assert len(paths) > 500, CORPUS
    single = 0
    for path in paths:
        data = path.read_bytes()
        picture = _picture(data)
        if picture is not None:
            single += 1
            assert picture == _shape(_tree(data)), path
    assert single > 200
    for path in paths[::7]:  # the whole parse too, on a share of them: same ParsedMail
        data = path.read_bytes()
        fast = parse_message(data)
        with monkeypatch.context() as m:
            m.setattr(parse, "_single_part_tree", lambda data: None)
            slow = parse_message(data)
        assert fast == slow, path


@pytest.mark.parametrize(("chunk", "hits"), [(1, 128), (7, 128), (1 << 20, 128), (7, 0),
                                             (1 << 20, 1), (3, 2), (1 << 20, 5)])
def test_the_case_insensitive_checks_find_what_re_finds(
        chunk: int, hits: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """_prepare's two whole-mail checks are tried only where their first word is (looked
    for by its last byte first, then by lowercasing, from wherever that gave up)."""
    import random

    monkeypatch.setattr(parse, "_LOWER_CHUNK", chunk)
    monkeypatch.setattr(parse, "_LAST_BYTE_HITS", hits)
    rng = random.Random(chunk)
    pieces = [b"Content-Type:", b"CONTENT-TYPE :", b"content-tYpe\t:", b"Content-Disposition:",
              b" multipart/", b"\r\n message/", b"message/", b"text/plain", b"\n", b"\r\n",
              b"\r", b"\n\t", b" ", b"x", b"Content-", b"\xe9", b"K", b"\xff" * 3]
    long_value = b"Content-Type: text/plain; name=" + b"a" * parse.MAX_PARAM_HEADER
    for _ in range(600):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 40)))
        if rng.random() < 0.1:
            data = data[: rng.randrange(len(data) + 1)] + rng.choice([b"\n", b""]) + \
                long_value + data
        for pattern, prefix in ((parse._MULTIPART_HINT, b"content-type"),
                                (parse._LONG_PARAM_HEADER, b"content-")):
            assert parse._search(pattern, prefix, data) == (pattern.search(data) is not None)
        for prefix in (b"content-", b"-", b"t-"):
            assert list(parse._starts(data, prefix)) == [
                m.start() for m in re.finditer(b"(?=" + re.escape(prefix) + b")", data.lower())]
        long_param = parse._LONG_PARAM_HEADER.search(data) is not None
        hint = parse._MULTIPART_HINT.search(data) is not None
        assert parse._content_checks(data) in ({(True, False), (True, True)} if long_param
                                               else {(False, hint)})


def test_a_body_gets_the_same_line_ends_as_from_the_regex() -> None:
    import random

    rng = random.Random(4)
    for _ in range(3000):
        text = "".join(rng.choice(["a", "\r", "\n", "\r\n", "\n\r", "\r\r", " ", "é"])
                       for _ in range(rng.randrange(0, 12)))
        assert parse._lf(text) == parse._NEWLINES.sub("\n", text), repr(text)
