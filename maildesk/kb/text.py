"""Words to index terms: lowercase, stop words and greetings out, Snowball stems.

The stemmers are PyStemmer's (the Snowball project's C stemmers); the stop word lists are
bm25s's, plus the words every helpdesk mail carries (greetings, thanks, "problem", "help")
that say nothing about what the mail asks. A language without a stemmer is still indexed,
word by word. `guess_language` counts stop words: enough to tell en, es and de apart in a
sentence or two, and it says "don't know" rather than guess on less.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import unicodedata
from collections import Counter
from functools import lru_cache
from itertools import filterfalse
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["STEMMERS", "first_words", "guess_language", "terms", "words"]

# ISO 639-1 -> PyStemmer algorithm
STEMMERS = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "nl": "dutch",
    "en": "english", "fi": "finnish", "fr": "french", "de": "german", "el": "greek",
    "hu": "hungarian", "id": "indonesian", "ga": "irish", "it": "italian", "lt": "lithuanian",
    "no": "norwegian", "nb": "norwegian", "pl": "polish", "pt": "portuguese", "ro": "romanian",
    "ru": "russian", "sr": "serbian", "es": "spanish", "sv": "swedish", "tr": "turkish",
}
_STOPWORD_LISTS = {
    "en": "STOPWORDS_EN_PLUS", "es": "STOPWORDS_SPANISH", "de": "STOPWORDS_GERMAN",
    "fr": "STOPWORDS_FRENCH", "it": "STOPWORDS_ITALIAN", "pt": "STOPWORDS_PORTUGUESE",
    "nl": "STOPWORDS_DUTCH", "da": "STOPWORDS_DANISH", "no": "STOPWORDS_NORWEGIAN",
    "sv": "STOPWORDS_SWEDISH", "ru": "STOPWORDS_RUSSIAN", "tr": "STOPWORDS_TURKISH",
}
# Words of every support mail: greetings, thanks, sign-offs, and asking for help.
_MAIL_WORDS = {
    "en": "hi hello hey dear team support thanks thank thx regards best kind cheers sincerely "
          "please pls plz help problem issue question questions wondering quick urgent asap "
          "sir madam morning afternoon evening greetings appreciate tia advance ok okay",
    "es": "hola buenos buenas días dias tardes noches estimado estimada estimados equipo "
          "soporte gracias saludos cordial cordiales atentamente un abrazo favor ayuda "
          "problema pregunta consulta duda urgente muchas mil quisiera señor señora",
    "de": "hallo hi guten tag morgen abend liebe lieber liebes sehr geehrte geehrter damen "
          "herren team support danke dank vielen besten gruß grüße gruss gruesse mfg lg vg "
          "freundlichen freundliche bitte hilfe problem frage fragen dringend schnell",
}
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
# _WORD on lowercase ASCII, where its letters and digits are these and its apostrophes one:
# half the cost of the Unicode classes (a new customer's language guess is ~300 words).
_ASCII_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)?")
# ASCII: A-Z lowercased, every character _ASCII_WORD cannot match made a space.
_ASCII_WORD_RUNS = str.maketrans({
    chr(c): chr(c).lower() if chr(c).isalpha() else " "
    for c in range(128) if not (chr(c).islower() or chr(c).isdigit() or chr(c) == "'")
})
# The same as a bytes table: an ASCII text's bytes translated by a 256-byte table cost a
# third of str.translate's dict (issue 20: 2 KB, 22 -> 8 us from a cold cache).
_ASCII_WORD_BYTES = bytes(ord(_ASCII_WORD_RUNS.get(c, chr(c))) if c < 128 else c
                          for c in range(256))


def words(text: str) -> list[str]:
    """Lowercase words, NFKC-normalised (full-width letters, ligatures), 2+ characters."""
    # filterfalse calls isdigit from C: no bytecode for most words (issue 20)
    return [w for w in filterfalse(str.isdigit, _all_words(text)) if len(w) > 1]


def _all_words(text: str) -> list[str]:
    """`words` before the digits and one-letter words are dropped."""
    if text.isascii():  # NFKC leaves ASCII as it is
        return _ascii_words(text)
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def _ascii_words(text: str) -> list[str]:
    """`_ASCII_WORD.findall(text.lower())`: the runs of letters, digits and apostrophes
    (no match spans another character, and one ends the same before it as at the end of
    the text), by one translate and split; only a run with an apostrophe goes to re.
    Issue 20: re tried a match at every character (a 4 KB text: 125 -> 25 us)."""
    runs = text.encode("ascii").translate(_ASCII_WORD_BYTES).decode("ascii").split()
    if "'" not in text:
        return runs
    return [w for run in runs for w in (_ASCII_WORD.findall(run) if "'" in run else (run,))]


def _fold(word: str) -> str:
    """Accents off, after stemming: customers type "contrasena" and "geloest" for
    "contraseña" and "gelöst"; ß becomes ss."""
    word = word.replace("ß", "ss").replace("ae", "a").replace("oe", "o").replace("ue", "u")
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=1)
def _bm25s_stopwords() -> ModuleType:
    """bm25s's stop word lists (one file of plain tuples), without bm25s itself:
    `import bm25s.stopwords` runs the package's `__init__` first, which imports numpy and
    scipy, and `deliver` guesses a new customer's language from these lists once per mail
    (60-90 ms of a process that exists for one mail). Already imported (the daemon ranks
    with bm25s): that module."""
    loaded = sys.modules.get("bm25s.stopwords")
    if loaded is not None:
        return loaded
    package = importlib.util.find_spec("bm25s")  # finds, never runs, a top-level package
    folders = list(package.submodule_search_locations or []) if package else []
    spec = (importlib.util.spec_from_file_location("maildesk.kb._bm25s_stopwords",
                                                   Path(folders[0]) / "stopwords.py")
            if folders else None)
    if spec is None or spec.loader is None:
        from bm25s import stopwords as lists  # an unusual install: the plain way

        return lists
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=32)
def stopwords(language: str) -> frozenset[str]:
    lists = _bm25s_stopwords()  # bm25s's own lists, with the library we rank with
    found: Any = getattr(lists, _STOPWORD_LISTS.get(language, ""), ())
    return frozenset(w.lower() for w in found) | frozenset(_MAIL_WORDS.get(language, "").split())


@lru_cache(maxsize=32)
def _stemmer(language: str) -> Any:
    algorithm = STEMMERS.get(language)
    if algorithm is None:
        return None
    import Stemmer

    return Stemmer.Stemmer(algorithm)


def terms(text: str, language: str) -> list[str]:
    """The index terms of a text in `language`: stop words out, stemmed, accents folded."""
    stop = stopwords(language)
    kept = [w for w in words(text) if w not in stop]
    stemmer = _stemmer(language)
    stems = stemmer.stemWords(kept) if stemmer is not None else kept
    return [_fold(s) for s in stems]


GUESS_WORDS = 400  # the words a language is guessed from: the top of the mail
_CHUNK = 4096  # characters of text tokenised at a time while looking for those words


def first_words(text: str, count: int) -> list[str]:
    """`words(text)[:count]`, tokenising only as much of the top of `text` as it takes (a
    100 KB mail's first 400 words are in its first few KB; `words` of all of it cost ~7 ms).

    The text is cut just before a space or a line break: no word spans one, NFKC composes
    nothing across one (both are starters that combine with nothing before them), and
    `lower` maps every character alone but a capital sigma, whose final-or-not context a
    space or line break ends. So the words of the part before the cut are the first words
    of the whole; when they are fewer than `count`, a part twice as long is read."""
    size = _CHUNK
    while size < len(text):
        cut = max(text.rfind(" ", 0, size), text.rfind("\n", 0, size))
        if cut > 0:
            found = words(text[:cut])
            if len(found) >= count:
                return found[:count]
        size *= 2
    return words(text)[:count]


@lru_cache(maxsize=8)
def _stop_languages(among: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    """Each stop word of the languages `among` that `words` can give (two characters or
    more, not a number) -> where in `among` its languages are: a word is looked up once,
    not once a language (the lists are constants)."""
    index: dict[str, list[int]] = {}
    for n, lang in enumerate(among):
        for word in stopwords(lang):
            if len(word) > 1 and not word.isdigit():
                index.setdefault(word, []).append(n)
    return {word: tuple(at) for word, at in index.items()}


def _stop_word_counts(text: str, among: tuple[str, ...]) -> list[int]:
    """For each language of `among`, how often the text's first GUESS_WORDS words are
    among its stop words. A text of no more words than that (a mail of a few KB) is read
    whole: the index holds no one-letter word nor number, which `words` drops, so they
    count for nothing; a longer text is read from `first_words`. The counting is in C
    (issue 20: a new customer's 2 KB mail 59 -> 41 us, a 1.8 KB text of 164 distinct
    words 155 -> 99 us): each word's languages (`index.get`), the stop words' kept, and
    the hits counted by their tuple of languages, of which a text has a handful; the
    Python loop goes over those, not over the words."""
    index = _stop_languages(among)
    found = _all_words(text) if len(text) <= 2 * _CHUNK else None
    if found is None or len(found) > GUESS_WORDS:  # else: words(text) are fewer still
        found = first_words(text, GUESS_WORDS)
    totals = [0] * len(among)
    for at, n in Counter(filter(None, map(index.get, found))).items():
        for i in at:
            totals[i] += n
    return totals


def guess_language(text: str, among: tuple[str, ...]) -> str | None:
    """The language among `among` whose stop words the text's first 400 words use most,
    when it is clear: at least three hits and a third more than the runner-up; else None."""
    counts = sorted(zip(_stop_word_counts(text, among), among, strict=True), reverse=True)
    if not counts or counts[0][0] < 3:
        return None
    if len(counts) > 1 and counts[0][0] < counts[1][0] * 4 / 3:
        return None
    return counts[0][1]
