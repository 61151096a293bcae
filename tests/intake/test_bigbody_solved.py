"""kb.solved picks the lines of an ASCII body that could be a solved line with one regex
(`_candidate_lines`) instead of looking at every line, and checks a line with linear code
(`_TWO_WORDS.match`, lstrip/rstrip) where two regexes were quadratic on long lines. The
answers must be the old ones (the regexes below) on every mail of the corpus and on random
text made of the characters that matter (white space, the trimmed punctuation, line ends,
the words)."""

from __future__ import annotations

import random
import re
import time
import unicodedata
from itertools import filterfalse

import pytest

from maildesk.intake.parse import parse_message
from maildesk.kb import solved
from tests.conftest import CORPUS, needs_corpus
from tests.intake.test_corpus_parse import is_mail_input

# The code before: a search for two words, and the trimming as one regex.
_OLD_TWO_WORDS = re.compile(r"[^\W_].*?\s.*?[^\W_]")
_OLD_TRIM = re.compile(r"^[\s\"'*_(\[]+|[\s\"'*_)\].!¡¿?,;:…👍✅🙂😊]+$")


def _old_is_solved_line(line: str) -> bool:
    text = _OLD_TRIM.sub("", unicodedata.normalize("NFKC", line).strip().lower())
    if text == "/solved":
        return True
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return text in solved.SOLVED_WORDS or (text.isascii() and folded in solved._FOLDED)


def _old_solved_lines(lines: list[str]) -> set[str]:
    return {line for line in lines
            if not _OLD_TWO_WORDS.search(line) and _old_is_solved_line(line)}


def _solved_lines(lines: object) -> set[str]:
    return set(filter(solved.is_solved_line,
                      filterfalse(solved._TWO_WORDS.match, lines)))  # type: ignore[arg-type]


def _agrees(body: str, old: bool = True) -> None:
    lines = body.splitlines()
    picked = list(solved._candidate_lines(body))
    assert set(picked) <= set(lines) | {""}, repr(body)
    assert _solved_lines(picked) == _solved_lines(lines), repr(body)
    if old:  # the old code is quadratic on long lines: lines up to 200 characters
        short = [line for line in lines if len(line) <= 200]
        assert _solved_lines(short) == _old_solved_lines(short), repr(body)
        for line in short:
            one_word = solved._TWO_WORDS.match(line) is None
            assert one_word == (_OLD_TWO_WORDS.search(line) is None), repr(line)
            if one_word:  # the lines is_solved_line is asked about
                assert solved.is_solved_line(line) == _old_is_solved_line(line), repr(line)


def test_the_white_space_trimmed_is_what_re_calls_white_space() -> None:
    assert solved._SPACES == "".join(c for c in map(chr, range(0x110000))
                                     if re.match(r"\s", c))


@needs_corpus
def test_the_corpus_bodies_give_the_same_solved_lines() -> None:
    checked = 0
    for path in sorted(p for p in CORPUS.rglob("*") if p.is_file() and is_mail_input(p)):
        raw = path.read_bytes()
        text = raw.decode("utf-8", "replace")
        for body in (parse_message(raw).body, text, text.replace("\r\n", "\n")):
            _agrees(body, old=len(body) <= 20_000)  # the old code on the smaller ones
        checked += 1
    assert checked > 100


_PIECES = ["solved", "Solved", "/solved", "fixed", "FIXED", "lost", "lst", "geloest",
           "resolu", "erledigt", "not", "it", "x", "1", " ", "  ", "\t", "\x1f", "\n", "\n",
           "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u00a0", '"', "'",
           "*", "_", "(", ")", "[", "]", ".", "!", "?", ",", ";", ":", "-", ">", "/", "…",
           "👍", "ｓｏｌｖｅｄ", "gelöst", "e\u0301"]


@pytest.mark.parametrize("seed", range(40))
def test_random_text_gives_the_same_solved_lines(seed: int) -> None:
    rng = random.Random(seed)
    ascii_only = [p for p in _PIECES if p.isascii()]
    for n in range(300):
        pieces = ascii_only if n % 2 else _PIECES
        body = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 40)))
        _agrees(body)
        _agrees("\n".join(rng.choice(["solved", " solved!", "a b", "", "*solved*", body])
                          for _ in range(5)))


@pytest.mark.parametrize("line", [". " * 500_000 + "x", "." * 1_000_000 + " solved",
                                  "." * 1_000_000 + "x", "solved" + "." * 1_000_000,
                                  "a" * 1_000_000, "a" * 500_000 + " " + "." * 500_000,
                                  "é" * 1_000_000, "(" * 500_000 + "solved" + ")" * 500_000])
def test_a_long_line_is_no_slow_case(line: str) -> None:
    """1 MB lines that took the old code hours (a regex tried at every offset): linear."""
    started = time.monotonic()
    for body in (f"hello\n{line}\n", f"{line}\nsolved\n"):
        _agrees(body, old=False)
        solved._first_line(body)
    assert time.monotonic() - started < 5
