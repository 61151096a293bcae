"""The text work per mail reads less than the whole mail (issue 20), and must give the
answers reading all of it gives: a language guessed from the first 400 words tokenised
from the top of the text only (kb.text.first_words), and /solved's line check that lets a
reply skip the quote analysis (kb.solved._first_line: a line with two words is no solved
line)."""

from __future__ import annotations

import random
import re

import pytest

from maildesk.agents.quotes import reply_text
from maildesk.kb import solved, text
from maildesk.kb.text import first_words, guess_language, stopwords, words

pytestmark = pytest.mark.unit

# Pieces of text around which tokenising, NFKC and lowercasing could go wrong at a cut:
# sigma (final or not), combining marks, jamo that compose, full-width letters, ligatures,
# apostrophes, digits, one-letter words, every line break str.splitlines knows.
PIECES = ["the", "que", "und", "de", "el", "der", "la", "is", "a", "I", "x", "42", "3rd",
          "ΑΣ", "Σ", "ΟΔΟΣ", "σ", "ς", "e\u0301", "\u0301", "\u1100", "\u1161", "ｓｏｌｖｅｄ",
          "ﬁle", "don't", "l’eau", "_", "'", "Straße", "İ", "ǅ", "😊", "…", "\u00a0",
          "printer", "Passwort", "contraseña", "vergessen", "olvidé"]
SPACES = [" ", " ", " ", "\n", "\r\n", "\t", "", "\x0c", "\u2028", "  "]


def _random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(PIECES) + rng.choice(SPACES) for _ in range(n))


def _guess_reference(txt: str, among: tuple[str, ...]) -> str | None:
    """guess_language as it was: every word of the text, then the first 400."""
    found = words(txt)[:400]
    counts = sorted(((sum(w in stopwords(lang) for w in found), lang) for lang in among),
                    reverse=True)
    if not counts or counts[0][0] < 3:
        return None
    if len(counts) > 1 and counts[0][0] < counts[1][0] * 4 / 3:
        return None
    return counts[0][1]


@pytest.mark.parametrize("chunk", [1, 5, 16, 4096])
def test_first_words_are_the_first_words_of_the_whole_text(
        chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text, "_CHUNK", chunk)
    rng = random.Random(chunk)
    for _ in range(300):
        txt = _random_text(rng, rng.randrange(0, 400))
        for count in (1, 3, 40, 400):
            assert first_words(txt, count) == words(txt)[:count], (txt, count)


def test_ascii_text_gives_the_words_of_the_unicode_pattern() -> None:
    """words() reads ASCII text with an ASCII pattern: the same words, in the same order,
    as NFKC, lowercasing and the Unicode pattern give."""
    rng = random.Random(11)
    ascii_pieces = [p for p in PIECES if p.isascii()] + [
        "Don't", "O'Neil", "'quoted'", "a'b'c", "x_y", "__", "A1b2", "99", "MiXeD", "-", ",",
        "it''s", "end'", "\x7f", "\x00", "~"]
    spaces = [s for s in SPACES if s.isascii()]
    for _ in range(3000):
        txt = "".join(rng.choice(ascii_pieces) + rng.choice(spaces)
                      for _ in range(rng.randrange(0, 60)))
        assert txt.isascii()
        reference = [w for w in text._WORD.findall(txt.lower()) if len(w) > 1
                     and not w.isdigit()]
        assert words(txt) == reference, txt
    assert words("Don't PANIC: it's 42 o'clock, ok?") == ["don't", "panic", "it's",
                                                            "o'clock", "ok"]


def test_ascii_words_by_translate_and_split_are_the_patterns_matches() -> None:
    """Issue 20: ASCII words come from one translate and split, re only for a run with an
    apostrophe: the ASCII pattern's matches over the whole lowercased text, for every
    ASCII character next to letters, digits and apostrophes, empty and 100 KB texts."""
    def reference(txt: str) -> list[str]:
        return [w for w in text._ASCII_WORD.findall(txt.lower()) if len(w) > 1
                and not w.isdigit()]

    rng = random.Random(20)
    alphabet = [chr(c) for c in range(128)] + ["'", "''", "ab", "Z9", "12", "x'y", "'"]
    for _ in range(5000):
        txt = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        assert words(txt) == reference(txt), repr(txt)
    assert words("") == [] and words("'") == [] and words("a") == []
    big = "".join(rng.choice(["Printer's ", "ON\r\n", "fire. ", "42 ", "a ", "'x' "])
                  for _ in range(20000))
    assert words(big) == reference(big)


def test_the_language_guess_is_the_same_from_the_top_of_a_long_mail() -> None:
    rng = random.Random(7)
    among = ("en", "es", "de", "fr", "it", "pt", "nl")
    samples = ["Hello, I cannot log in since yesterday and the password is not accepted.",
               "Hola, no puedo entrar desde ayer y la contraseña no funciona para mí.",
               "Hallo, ich kann mich seit gestern nicht anmelden und das Passwort geht nicht."]
    for _ in range(200):
        parts = [rng.choice(samples) + rng.choice(SPACES) for _ in range(rng.randrange(1, 700))]
        txt = "".join(parts) + _random_text(rng, rng.randrange(0, 50))
        assert guess_language(txt, among) == _guess_reference(txt, among)


def _first_line_reference(body: str) -> str:
    """kb.solved._first_line without its shortcut: the reply's first line of new text."""
    return next((x for x in reply_text(body).splitlines() if x.strip()), "")


# Lines around the solved words: each trimmed character, case, NFKC, accents, folds.
SOLVED_PIECES = ["solved", "SOLVED", "Solved", "/solved", "/Solved", "/ solved", "resolved",
                 "Gelöst", "GELÖST", "geloest", "gelost", "løst", "Løst", "lst", "lost",
                 "Résolu", "resolu", "RESUELTO", "resolvio", "resolvió", "fixed", "ﬁxed",
                 "ｓｏｌｖｅｄ", "erledigt", "unsolved", "solvedx", "xsolved", "e\u0301",
                 "so\u0301lved", "Σolved", "löst", "loest"]
TRIM = ["", " ", "\t", "\u00a0", '"', "'", "*", "_", "(", "[", ")", "]", ".", "!", "¡", "¿",
        "?", ",", ";", ":", "…", "👍", "✅", "🙂", "😊", "-", "/", "x", "ǅ", "\u3000"]
BREAKS = ["\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
          "\u2029", "\n\n"]
FILLER = ["> reply with solved", "Thanks, Carol", "On Mon, 1 Dec 2026, Support wrote:",
          "not solved yet", "-- ", "Hello", "", "> > solved"]


def _solved_line(rng: random.Random) -> str:
    return ("".join(rng.choice(TRIM) for _ in range(rng.randrange(0, 3)))
            + rng.choice(SOLVED_PIECES)
            + "".join(rng.choice(TRIM) for _ in range(rng.randrange(0, 3))))


def test_the_solved_check_agrees_with_reading_the_reply_on_random_bodies() -> None:
    rng = random.Random(20)
    accepted = 0
    for _ in range(1500):
        lines = [_solved_line(rng) if rng.random() < 0.4 else rng.choice(FILLER)
                 for _ in range(rng.randrange(1, 6))]
        body = "".join(line + rng.choice(BREAKS) for line in lines)
        accepted += any(solved.is_solved_line(line) for line in body.splitlines())
        assert solved.is_solved_line(solved._first_line(body)) == \
            solved.is_solved_line(_first_line_reference(body)), repr(body)
    assert accepted > 200  # the generator does make solved lines


def test_the_lazy_two_words_check_finds_what_the_greedy_one_found() -> None:
    greedy = re.compile(r"[^\W_].*\s.*[^\W_]")
    rng = random.Random(2)
    for _ in range(3000):
        line = "".join(rng.choice(PIECES + TRIM) + rng.choice(SPACES + TRIM)
                       for _ in range(rng.randrange(0, 8))).replace("\n", " ")
        assert (solved._TWO_WORDS.match(line) is None) == (greedy.search(line) is None), line
