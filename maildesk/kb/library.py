"""The knowledge base of a config: loaded once per Config object, so a SIGHUP (a new
Config) loads it again, and `check-config` reports its problems as `file:line: message`.

A bad entry is left out and logged; the others stay offered (one typo in one file must
not take the first level away). `entries_for` is what the web's reply form lists.
"""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from maildesk.kb.entries import Entry, Problem, load_entries
from maildesk.kb.query import question
from maildesk.kb.ranking import Hit, Index, Ranking

if TYPE_CHECKING:
    from maildesk.config import Config

__all__ = ["Library", "entries_for", "kb_problems", "library", "suggestions"]

log = logging.getLogger("maildesk.kb")
_CACHE: dict[int, tuple[Config, Library]] = {}  # id(config) -> (config kept alive, library)
_LOCK = threading.Lock()
_CACHED = 4  # configs: the one in force, and a few a test or a reload has left behind


@dataclass(frozen=True)
class Library:
    index: Index
    problems: list[Problem]

    def entry(self, name: str) -> Entry | None:
        return self.index.entries.get(name.lower())

    def search(self, text: str, *, language: str | None = None, fallback: str | None = None,
               queue: str | None = None) -> Ranking:
        return self.index.search(text, language=language, fallback=fallback, queue=queue)


def _load(config: Config) -> Library:
    path = config.kb.path
    if path is None:
        return Library(Index([]), [])
    entries, problems = load_entries(path, [q.name for q in config.queues])
    return Library(Index(entries), problems)


def library(config: Config) -> Library:
    """The knowledge base of this config, loaded on first use (thread-safe)."""
    with _LOCK:
        cached = _CACHE.get(id(config))
        if cached is not None and cached[0] is config:
            return cached[1]
        loaded = _load(config)
        for problem in loaded.problems:
            log.error("knowledge base entry left out: %s", problem)
        while len(_CACHE) >= _CACHED:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[id(config)] = (config, loaded)
        return loaded


def kb_problems(config: Config) -> list[str]:
    """`file:line: message` for every bad entry (check-config, serve's start)."""
    if config.kb.path is None:
        return []
    return [str(p) for p in _load(config).problems]


def suggestions(config: Config, *, subject: str | None, body: str | None,
                queue: str | None, language: str | None) -> list[Hit]:
    """The entries worth offering for a new mail: above `kb.min_score`, at most
    `kb.suggestions`, in the mail's language (`language` when it does not show)."""
    if config.kb.path is None or config.kb.suggestions == 0:
        return []
    ranking = library(config).search(question(subject, body), fallback=language, queue=queue)
    good = [h for h in ranking.hits if h.score >= config.kb.min_score]
    return good[: config.kb.suggestions]


def entries_for(config: Config, queue: str | None = None,
                language: str | None = None) -> list[Entry]:
    """The entries an agent may insert in a ticket of `queue` (every queue: None), in
    `language` first then the others, each group by title: for the web's reply form."""
    if config.kb.path is None:
        return []
    primary = (language or "").lower().replace("_", "-").split("-")[0]
    found = [e for e in library(config).index.entries.values() if e.for_queue(queue)]
    return sorted(found, key=lambda e: (e.language != primary, e.language, e.title.lower()))


EXAMPLE = Path(__file__).resolve().parents[1] / "knowledge"  # package data: `maildesk init`


def install_example(config: Config) -> bool:
    """Copy the shipped example knowledge base to `kb.path` when that folder is missing."""
    target = config.kb.path
    if target is None or target.exists() or not EXAMPLE.is_dir() or target == EXAMPLE:
        return False
    shutil.copytree(EXAMPLE, target)
    return True
