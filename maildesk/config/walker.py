"""The line-keeping YAML walker: reads PyYAML's composed node tree instead of plain dicts,
so every value keeps its line and every problem is reported as `file:line: message`.

Readers return None when they reported a problem (the default stays and loading goes on),
so one run of `maildesk check-config` lists every problem in the file, not just the first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from maildesk.config.values import LANG_RE, check_address

NULL = "tag:yaml.org,2002:null"
BOOL = "tag:yaml.org,2002:bool"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
MERGE = "tag:yaml.org,2002:merge"
FALSE = ("false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N")

Entries = dict[str, tuple[Node, Node]]


def line_of(node: Node) -> int:
    return node.start_mark.line + 1


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == NULL


def kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == NULL:
        return "empty"
    return repr(node.value)


class Walker:
    """Reads the composed node tree, so every value keeps its line for error messages."""

    def __init__(self, loader: yaml.SafeLoader, base: Path) -> None:
        self.loader = loader
        self.base = base  # relative paths are relative to the config file's folder
        self.problems: list[tuple[int, str]] = []
        # what sections read so far define, for readers that refer to it ("groups" -> ...)
        self.known: dict[str, Any] = {}

    def problem(self, node: Node, message: str) -> None:
        self.problems.append((line_of(node), message))

    # -- containers

    def mapping(self, node: Node, where: str, allowed: Iterable[str] | None) -> Entries:
        """Keys of a mapping (null counts as empty); unknown and duplicate keys reported."""
        if is_null(node):
            return {}
        if not isinstance(node, MappingNode):
            self.problem(node, f"{where}: must be a mapping, not {kind(node)}")
            return {}
        allowed_t = tuple(allowed) if allowed is not None else None
        out: Entries = {}
        for key, value in self._own_entries(node, where):
            if allowed_t is not None and key.value not in allowed_t:
                self.problem(
                    key,
                    f"{where}: unknown key '{key.value}' (allowed: {', '.join(allowed_t)})",
                )
                continue
            out[key.value] = (key, value)
        for key, value in self._merged_entries(node, where):
            if key.value not in out and (allowed_t is None or key.value in allowed_t):
                out[key.value] = (key, value)
        return out

    def _own_entries(self, node: MappingNode, where: str) -> list[tuple[ScalarNode, Node]]:
        seen: set[str] = set()
        out: list[tuple[ScalarNode, Node]] = []
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.tag == MERGE:
                continue
            if not isinstance(key, ScalarNode) or key.tag == NULL:
                self.problem(key, f"{where}: keys must be plain names")
                continue
            if key.value in seen:
                self.problem(key, f"{where}: duplicate key '{key.value}'")
                continue
            seen.add(key.value)
            out.append((key, value))
        return out

    def _merged_entries(self, node: MappingNode, where: str) -> list[tuple[ScalarNode, Node]]:
        """YAML merge keys (`<<: *defaults`): earlier sources win, own keys win over all."""
        out: list[tuple[ScalarNode, Node]] = []
        for key, value in node.value:
            if not (isinstance(key, ScalarNode) and key.tag == MERGE):
                continue
            sources = value.value if isinstance(value, SequenceNode) else [value]
            for src in sources:
                if not isinstance(src, MappingNode):
                    self.problem(src, f"{where}: '<<' must merge a mapping")
                    continue
                out.extend(self._own_entries(src, where))
                out.extend(self._merged_entries(src, where))
        return out

    def sequence(self, node: Node, where: str) -> list[Node]:
        if is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            self.problem(node, f"{where}: must be a list, not {kind(node)}")
            return []
        return list(node.value)

    # -- scalars (None means: reported, use the default)

    def text(self, node: Node, where: str, *, empty_ok: bool = False) -> str | None:
        """Any scalar as written: `language: no` stays "no", not YAML 1.1's False."""
        if not isinstance(node, ScalarNode) or node.tag == NULL:
            self.problem(node, f"{where}: must be text, not {kind(node)}")
            return None
        if not empty_ok and not node.value.strip():
            self.problem(node, f"{where}: must not be empty")
            return None
        return node.value

    def boolean(self, node: Node, where: str) -> bool | None:
        if isinstance(node, ScalarNode) and node.tag == BOOL:
            return bool(self.loader.construct_object(node))
        self.problem(node, f"{where}: must be true or false, not {kind(node)}")
        return None

    def integer(self, node: Node, where: str, lo: int = 0, hi: int | None = None) -> int | None:
        value: int | None = None
        if isinstance(node, ScalarNode):
            if node.tag == INT:
                value = self.loader.construct_object(node)
            elif node.tag != BOOL and node.value.strip().isdigit():
                value = int(node.value)
        rng = f"{lo}-{hi}" if hi is not None else f">= {lo}"
        if value is None or value < lo or (hi is not None and value > hi):
            self.problem(node, f"{where}: must be a whole number {rng}, not {kind(node)}")
            return None
        return value

    def converted(self, node: Node, where: str, convert: Callable[[Any], Any]) -> Any:
        """A scalar through a parse_* helper; numbers reach it as numbers."""
        if not isinstance(node, ScalarNode) or node.tag in (NULL, BOOL):
            raw: Any = None
        elif node.tag in (INT, FLOAT):
            raw = self.loader.construct_object(node)
        else:
            raw = node.value
        try:
            if raw is None:
                raise ValueError(f"must be a single value, not {kind(node)}")
            return convert(raw)
        except ValueError as exc:
            self.problem(node, f"{where}: {exc}")
            return None

    def choice(self, node: Node, where: str, choices: Iterable[str]) -> str | None:
        value = self.text(node, where)
        choices = tuple(choices)
        if value is not None and value not in choices:
            self.problem(node, f"{where}: {value!r} is not one of: {', '.join(choices)}")
            return None
        return value

    def address(self, node: Node, where: str) -> str | None:
        value = self.text(node, where)
        return None if value is None else self.converted(node, where, check_address)

    def language(self, node: Node, where: str) -> str | None:
        value = self.text(node, where)
        if value is not None and not LANG_RE.fullmatch(value):
            self.problem(node, f"{where}: not a language code like en or pt-BR: {value!r}")
            return None
        return value

    def path(self, node: Node, where: str) -> Path | None:
        value = self.text(node, where)
        return None if value is None else absolute(value, self.base)

    def names(self, node: Node, where: str) -> list[tuple[str, Node]]:
        """A list of texts, or one text standing for a list of one."""
        items = [node] if isinstance(node, ScalarNode) and not is_null(node) else None
        out: list[tuple[str, Node]] = []
        for item in items or self.sequence(node, where):
            value = self.text(item, where)
            if value is not None:
                out.append((value, item))
        return out


def absolute(text: str, base: Path) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path
