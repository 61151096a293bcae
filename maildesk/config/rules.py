"""Routing rules: `match` conditions and `set` actions, which refer to queues and agents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from maildesk.config.model import RULE_KEYS, Agent, Pattern, Queue, Rule
from maildesk.config.patterns import RegexError, compile_regex
from maildesk.config.values import HEADER_NAME_RE, parse_priority
from maildesk.config.vocabulary import MATCH_CONDITIONS, RULE_SET_KEYS, STATES
from maildesk.config.walker import BOOL, Walker, is_null, kind, line_of

Reader = Callable[[Node, str], Any]
REGEX_KEYS = ("regex",)


def _patterns(w: Walker, node: Node, where: str) -> tuple[Pattern, ...] | None:
    """A glob, `{regex: ...}`, or a list of either (any may match)."""
    if isinstance(node, SequenceNode):
        items = list(node.value)
        if not items:
            w.problem(node, f"{where}: an empty list matches nothing")
            return None
    else:
        items = [node]
    out: list[Pattern] = []
    ok = True
    for item in items:
        if isinstance(item, MappingNode):
            entries = w.mapping(item, where, REGEX_KEYS)
            if "regex" not in entries:
                ok = False
                if not w.problems or w.problems[-1][0] != line_of(item):
                    w.problem(item, f"{where}: write a pattern as text or {{regex: ...}}")
                continue
            rnode = entries["regex"][1]
            source = w.text(rnode, f"{where}.regex")
            if source is None:
                ok = False
                continue
            try:
                out.append(Pattern(source, compile_regex(source)))
            except RegexError as exc:
                w.problem(rnode, f"{where}: bad regex {source!r}: {exc}")
                ok = False
        elif isinstance(item, ScalarNode) and not is_null(item):
            out.append(Pattern(item.value))
        else:
            w.problem(
                item, f"{where}: must be text, {{regex: ...}} or a list of them, not {kind(item)}"
            )
            ok = False
    return tuple(out) if ok else None


def read_rules(w: Walker, node: Node, queues: list[Queue], agents: list[Agent]) -> list[Rule]:
    queue_names = [q.name for q in queues]
    agent_addresses = {a.address for a in agents}
    out: list[Rule] = []
    for i, item in enumerate(w.sequence(node, "rules")):
        entries = w.mapping(item, f"rules[{i}]", tuple(RULE_KEYS))
        if not isinstance(item, MappingNode):
            continue
        name = w.text(entries["name"][1], f"rules[{i}]: name") if "name" in entries else None
        where = f"rule '{name}'" if name else f"rules[{i}]"
        kw: dict[str, Any] = {"name": name or f"rule {i + 1}", "line": line_of(item)}
        if "match" in entries:
            kw |= _match(w, entries["match"][1], f"{where}: match")
        if "set" in entries:
            kw["set"] = _set(w, entries["set"][1], f"{where}: set", queue_names, agent_addresses)
        for key in ("autoresponse", "ignore", "stop", "followups"):
            if key in entries:
                value = w.boolean(entries[key][1], f"{where}: {key}")
                if value is not None:
                    kw[key] = value
        if "reject" in entries:
            rnode = entries["reject"][1]
            if isinstance(rnode, ScalarNode) and rnode.tag == BOOL:
                if w.boolean(rnode, f"{where}: reject"):
                    kw["reject"] = "Message refused by policy"
            else:
                kw["reject"] = w.text(rnode, f"{where}: reject")
        if kw.get("ignore") and kw.get("reject"):
            w.problem(entries["ignore"][0], f"{where}: a rule cannot both ignore and reject")
        out.append(Rule(**kw))
    return out


def _match(w: Walker, node: Node, where: str) -> dict[str, Any]:
    kw: dict[str, Any] = {"match": {}, "headers": {}}
    for cond, (_, vnode) in w.mapping(node, where, MATCH_CONDITIONS).items():
        if cond in ("has_attachment", "known_customer"):
            kw[cond] = w.boolean(vnode, f"{where}.{cond}")
        elif cond == "header":
            for header, (hkey, hnode) in w.mapping(vnode, f"{where}.header", None).items():
                if not HEADER_NAME_RE.fullmatch(header):
                    w.problem(hkey, f"{where}.header: not a header name: {header!r}")
                    continue
                patterns = _patterns(w, hnode, f"{where}.header.{header}")
                if patterns is not None:
                    kw["headers"][header] = patterns
        else:
            patterns = _patterns(w, vnode, f"{where}.{cond}")
            if patterns is not None:
                kw["match"][cond] = patterns
    return kw


def _set(
    w: Walker, node: Node, where: str, queues: list[str], agents: set[str]
) -> dict[str, object]:
    def queue(v: Node, wh: str) -> str | None:
        value = w.text(v, wh)
        if value is not None and value not in queues:
            w.problem(v, f"{wh}: unknown queue '{value}' (queues: {', '.join(queues) or 'none'})")
            return None
        return value

    def owner(v: Node, wh: str) -> str | None:
        value = w.address(v, wh)
        if value is not None and value not in agents:
            w.problem(v, f"{wh}: {value} is not a configured agent")
            return None
        return value

    def tags(v: Node, wh: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(tag for tag, _ in w.names(v, wh)))

    readers: dict[str, Reader] = {
        "queue": queue,
        "priority": lambda v, wh: w.converted(v, wh, parse_priority),
        # merging needs a target ticket, so no rule may set it
        "state": lambda v, wh: w.choice(v, wh, STATES[:-1]),
        "owner": owner,
        "tags": tags,
        "language": w.language,
    }
    out: dict[str, object] = {}
    for key, (_, v) in w.mapping(node, where, RULE_SET_KEYS).items():
        value = readers[key](v, f"{where}.{key}")
        if value is not None:
            out[key] = value
    return out
