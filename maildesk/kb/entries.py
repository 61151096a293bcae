"""Knowledge base entries: Markdown files with a YAML front matter, read from one folder.

    ---
    title: How do I reset my password?
    language: en
    queues: [Support]          # optional: offered only for tickets in these queues
    keywords: [password, login, forgot]
    ---
    Open the login page and ...

An entry's name is its file name without `.md` (`/faq reset-password`, `/kb/reset-password`),
unique in the whole folder. Every problem is a `file:line: message`, as `check-config`
prints them; a bad file is left out, the others still load.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["KEYS", "MAX_BYTES", "Entry", "Problem", "load_entries"]

_Report = Callable[[int, str], None]
KEYS = ("title", "language", "queues", "keywords")
MAX_BYTES = 256 * 1024  # an answer, not a manual: larger files are refused
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})*")


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Entry:
    name: str
    title: str
    language: str  # the primary subtag, lowercase: "en", "es", "de"
    queues: tuple[str, ...]  # empty: every queue
    keywords: tuple[str, ...]
    body: str  # the Markdown below the front matter
    path: Path

    def for_queue(self, queue: str | None) -> bool:
        return not self.queues or queue is None or queue in self.queues

    def excerpt(self, limit: int = 200) -> str:
        """The first paragraph as plain text, cut at a word, for mails and lists."""
        paragraph = next((p for p in re.split(r"\n\s*\n", self.body)
                          if p.strip() and not p.lstrip().startswith("#")), "")
        text = " ".join(plain(paragraph).split())
        if len(text) <= limit:
            return text
        return text[:limit].rsplit(" ", 1)[0].rstrip(",;:.") + " …"


def plain(markdown: str) -> str:
    """Markdown markup off, for plain-text mail: links keep their text and address."""
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    text = re.sub(r"\[([^\]]+)\]\(([^)\s]+)[^)]*\)", r"\1 (\2)", text)
    text = re.sub(r"(?m)^\s{0,3}#{1,6}\s*", "", text)
    text = re.sub(r"(\*\*|__|`)", "", text)
    return re.sub(r"(?<!\w)[*_](\S[^*_]*?)[*_](?!\w)", r"\1", text)


def load_entries(folder: Path, queues: Collection[str] | None = None
                 ) -> tuple[list[Entry], list[Problem]]:
    """Every `*.md` below `folder` (dot files and folders skipped), in name order; `queues`
    are the configured queue names an entry may name (None: not checked)."""
    problems: list[Problem] = []
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        return [], [Problem(folder, 1, f"kb.path: the knowledge base folder {what}")]
    entries: list[Entry] = []
    seen: dict[str, Path] = {}
    files = sorted(p for p in folder.rglob("*.md")
                   if not any(part.startswith(".") for part in p.relative_to(folder).parts))
    for path in files:
        entry = _entry(path, queues, problems)
        if entry is None:
            continue
        if entry.name in seen:
            problems.append(Problem(path, 1, f"entry name '{entry.name}' is also "
                                             f"{seen[entry.name]} (names must be unique)"))
            continue
        seen[entry.name] = path
        entries.append(entry)
    return entries, problems


def _entry(path: Path, queues: Collection[str] | None, problems: list[Problem]) -> Entry | None:
    def problem(line: int, message: str) -> None:
        problems.append(Problem(path, line, message))

    name = path.stem.lower()
    if not _NAME.fullmatch(name):
        problem(1, f"the file name {path.stem!r} is not an entry name (letters, digits, "
                   ". _ -, starting with a letter or digit)")
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        problem(1, f"cannot read: {exc.strerror or exc}")
        return None
    if len(data) > MAX_BYTES:
        problem(1, f"larger than {MAX_BYTES // 1024} KiB")
        return None
    try:
        text = data.decode("utf-8-sig").replace("\r\n", "\n")
    except UnicodeDecodeError as exc:
        problem(data[: exc.start].count(b"\n") + 1, f"not UTF-8 text: {exc.reason}")
        return None
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        problem(1, "no front matter: the file must start with a line '---'")
        return None
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        problem(1, "the front matter is not closed by a line '---'")
        return None
    try:
        root = yaml.compose("\n".join(lines[1:end]), Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = "; ".join(p for p in (exc.context, exc.problem) if p)
        problem((mark.line + 2) if mark else 1, f"front matter: YAML syntax error: {detail}")
        return None
    if not isinstance(root, MappingNode):
        problem(2, "front matter: expected keys (title, language, queues, keywords)")
        return None
    before = len(problems)
    values: dict[str, tuple[Node, int]] = {}
    for key_node, value_node in root.value:
        key, line = str(key_node.value), key_node.start_mark.line + 2
        if key not in KEYS:
            problem(line, f"front matter: unknown key '{key}' (keys: {', '.join(KEYS)})")
        elif key in values:
            problem(line, f"front matter: '{key}' given twice")
        else:
            values[key] = (value_node, line)
    for key in ("title", "language"):
        if key not in values:
            problem(2, f"front matter: missing required key '{key}'")
    title = _scalar(values.get("title"), "title", problem)
    language = _scalar(values.get("language"), "language", problem)
    if language is not None:
        language = language.lower().replace("_", "-")
        if not _LANGUAGE.fullmatch(language):
            problem(values["language"][1], f"front matter: language: not a language code: "
                                           f"{language!r} (write e.g. en, es, de)")
    named = _list(values.get("queues"), "queues", problem)
    for queue in named:
        if queues is not None and queue not in queues:
            known = ", ".join(queues) or "none defined"
            problem(values["queues"][1], f"front matter: queues: unknown queue '{queue}' "
                                         f"(queues: {known})")
    keywords = _list(values.get("keywords"), "keywords", problem)
    body = "\n".join(lines[end + 1:]).strip("\n")
    if not body.strip():
        problem(end + 1, "the entry has no text below its front matter")
    if len(problems) > before or title is None or language is None:
        return None
    return Entry(name, title, language.split("-")[0], tuple(named), tuple(keywords), body, path)


def _scalar(found: tuple[Node, int] | None, key: str, problem: _Report) -> str | None:
    if found is None:
        return None
    node, line = found
    if not isinstance(node, ScalarNode) or not str(node.value).strip():
        problem(line, f"front matter: {key}: expected a text")
        return None
    return " ".join(str(node.value).split())


def _list(found: tuple[Node, int] | None, key: str, problem: _Report) -> list[str]:
    """A YAML list of texts, or one text with commas."""
    if found is None:
        return []
    node, line = found
    if isinstance(node, ScalarNode):
        return [v.strip() for v in str(node.value).split(",") if v.strip()]
    if isinstance(node, SequenceNode) and all(isinstance(n, ScalarNode) for n in node.value):
        return [str(n.value).strip() for n in node.value if str(n.value).strip()]
    problem(line, f"front matter: {key}: expected a list of texts")
    return []
