"""outbound/qp.py writes byte for byte what the email package's quoted-printable body
encoder writes (issue 20): for the texts maildesk sends (every real mail of the corpus,
quoted as a notification quotes it), for the awkward shapes (long lines with escapes at
every place a soft break could cut, white space at the end of a line at every length, CR
and CRLF, every byte) and for random text."""

from __future__ import annotations

import random
from email import message_from_bytes, quoprimime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildesk.outbound.deferred import quote
from maildesk.outbound.qp import body_encode, encode_text
from tests.conftest import CORPUS, needs_corpus


def _old(text: str) -> str:
    """What render._quoted_printable wrote before issue 20's encoder."""
    return quoprimime.body_encode(text.encode("utf-8").decode("latin1"))


def _same(text: str) -> None:
    assert encode_text(text) == _old(text), repr(text)
    latin = text.encode("utf-8").decode("latin1")
    assert body_encode(latin) == quoprimime.body_encode(latin), repr(text)


@pytest.mark.parametrize("text", [
    "",
    "\n",
    "\n\n",
    "one line without its end",
    "Grüße aus Köln, ça va? 日本語のテキスト\n" * 40,
    "x" * 300 + "\n" + "=" * 200 + "\n" + "a=\n",
    "trailing space \ntrailing tab\t\n \n\t\n",
    "From the start\n.a dot\n..two\nFrom me\n.\n",
    "crlf\r\nlines\r\nand a lone\rcr\r\n",
    "".join(map(chr, range(256))) * 3,
    "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029 line breaks of str.splitlines\n",
])
def test_shapes(text: str) -> None:
    _same(text)


def test_every_line_length_with_an_escape_or_a_blank_at_every_place() -> None:
    for size in range(70, 160):
        for at in range(size):
            for char in "=\xe4 \t":
                line = "y" * at + char + "y" * (size - at - 1)
                _same(line)
                _same(line + "\n" + line)
        for end in (" ", "\t", "  ", " \t", "=", "= ", "\xe4 "):
            _same("y" * (size - len(end)) + end + "\n")


def test_random_text() -> None:
    rng = random.Random(20)
    for alphabet in ("ab =\t \r\n\xe4\xff\x00x.", "ab =\t \n\u20ac\xe4x", "a \t\n", "a =\n"):
        for filler in (3, 10, 60):
            chars = alphabet + "y" * filler
            for _ in range(1500):
                size = rng.choice([0, 1, 2, 5, 20, 75, 76, 77, 78, 79, 80, 150, 151, 152, 153,
                                   154, 226, 227, 228, 300])
                _same("".join(rng.choice(chars) for _ in range(size)))


@given(st.text(max_size=400))
@settings(max_examples=500, deadline=None)
def test_any_text(text: str) -> None:
    _same(text)


@needs_corpus
def test_every_corpus_mail_quoted() -> None:
    files = sorted(CORPUS.rglob("*.eml"))
    assert len(files) > 100
    for path in files:
        mail = message_from_bytes(path.read_bytes())
        for part in mail.walk():
            if part.get_content_maintype() != "text":
                continue
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                for text in (payload.decode("utf-8", "replace"), payload.decode("latin-1")):
                    _same(text)
                    _same(quote(text))


def test_bodies_of_paragraphs_that_come_again() -> None:
    """Paragraphs are encoded once (cached) whatever body they are in: bodies drawn from a
    few paragraphs, empty lines and white space around them, one longer than the cache
    takes."""
    rng = random.Random(7)
    pool = ["-- \nReply to this mail.\n  /lock" + " " * 40 + "lock it\t", "", " ", "\t",
            "x" * 200, "Grüße = ä\n" * 3, "y " * 50 + "\n" + "=" * 90, "\n", "a\n\nb",
            "long " * 1000]
    for _ in range(3000):
        parts = [rng.choice(pool) for _ in range(rng.randint(1, 6))]
        _same(rng.choice(["\n\n", "\n\n\n", "\n", "\n\n\n\n"]).join(parts)
              + rng.choice(["", "\n", "\n\n"]))
