"""BM25 over the knowledge base, one index per language (bm25s).

Why bm25s and not the database's full text index: the three databases rank differently
(SQLite FTS5 has bm25(), PostgreSQL's ts_rank is not BM25, MariaDB's FULLTEXT has its own
weighting), so one threshold could not mean the same on all three; a knowledge base is
small (tens to a few thousand answers) and lives in files, so an in-memory index built at
load time costs milliseconds and no schema. bm25s is maintained, needs only numpy, and
implements the Lucene BM25 variant. The stemmers are Snowball's (maildesk.kb.text).

An entry is indexed as its title and keywords (twice: what the author says the entry is
about) and its text. A query term that is not in the index is matched to the nearest index
term of the same first letter when it is close enough (difflib ratio ≥ 0.84): customers
write "pasword" and "contrasenia".
"""

from __future__ import annotations

import difflib
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from maildesk.kb.entries import Entry
from maildesk.kb.text import guess_language, terms

__all__ = ["Hit", "Index", "Ranking"]

TYPO_RATIO = 0.84
TYPO_MIN_LENGTH = 5


@dataclass(frozen=True)
class Hit:
    entry: Entry
    score: float


@dataclass(frozen=True)
class Ranking:
    language: str | None  # the index searched; None: no entry in a language to search
    hits: list[Hit]  # best first, every entry of the language with a score > 0
    terms: list[str]


class _LanguageIndex:
    def __init__(self, language: str, entries: list[Entry]) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index at DEBUG
        self.language = language
        self.entries = entries
        docs = [self._document(e) for e in entries]
        self.vocabulary = {t for doc in docs for t in doc}
        self.by_initial: dict[str, list[str]] = defaultdict(list)
        for term in sorted(self.vocabulary):
            self.by_initial[term[:1]].append(term)
        self.bm25: Any = bm25s.BM25()
        self.bm25.index(docs, show_progress=False)

    def _document(self, entry: Entry) -> list[str]:
        about = " ".join((entry.title, *entry.keywords))
        return terms(about, self.language) * 2 + terms(entry.body, self.language) or ["-"]

    def corrected(self, term: str) -> str:
        if term in self.vocabulary or len(term) < TYPO_MIN_LENGTH:
            return term
        near = difflib.get_close_matches(term, self.by_initial.get(term[:1], []), n=1,
                                         cutoff=TYPO_RATIO)
        return near[0] if near else term

    def search(self, text: str) -> Ranking:
        query = [self.corrected(t) for t in terms(text, self.language)]
        query = [t for t in dict.fromkeys(query) if t in self.vocabulary]
        if not query:
            return Ranking(self.language, [], [])
        scores = self.bm25.get_scores(query)
        hits = [Hit(e, float(s)) for e, s in zip(self.entries, scores, strict=True) if s > 0]
        hits.sort(key=lambda h: (-h.score, h.entry.name))
        return Ranking(self.language, hits, query)


class Index:
    """The knowledge base's entries, searchable per language."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = {e.name: e for e in entries}
        grouped: dict[str, list[Entry]] = defaultdict(list)
        for entry in entries:
            grouped[entry.language].append(entry)
        self._indexes = {lang: _LanguageIndex(lang, group) for lang, group in grouped.items()}

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self._indexes))

    def language_of(self, text: str, fallback: str | None) -> str | None:
        """The text's own language when it shows, else `fallback`'s primary subtag, else
        the only language there is."""
        guessed = guess_language(text, self.languages)
        if guessed is not None:
            return guessed
        primary = (fallback or "").lower().replace("_", "-").split("-")[0]
        if primary in self._indexes:
            return primary
        return self.languages[0] if len(self.languages) == 1 else None

    def search(self, text: str, *, language: str | None = None, fallback: str | None = None,
               queue: str | None = None) -> Ranking:
        """Every entry with a score for `text`, best first; `language` forces the index,
        otherwise the text's language is guessed (`fallback` when it does not show)."""
        lang = language or self.language_of(text, fallback)
        index = self._indexes.get(lang or "")
        if index is None:
            return Ranking(lang, [], [])
        ranking = index.search(text)
        hits = [h for h in ranking.hits if h.entry.for_queue(queue)]
        return Ranking(ranking.language, hits, ranking.terms)
