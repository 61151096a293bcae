"""The mail templates' sandbox (templating._Sandbox, _Noting; issue 20) renders what
Jinja2's own SandboxedEnvironment and Context render: every shipped template with many
contexts (non-ASCII, long lines, HTML-looking text, keys named like a dict's methods,
missing values), and `getattr` item by item against the sandbox's own; render_shared's
comparison of values (`_same`) against its form before issue 20."""

from __future__ import annotations

from collections import ChainMap
from pathlib import Path
from typing import Any

import jinja2
import jinja2.runtime
import pytest
from jinja2.sandbox import SandboxedEnvironment

from maildesk.outbound.templating import (
    _MISSING,
    SHIPPED_TEMPLATES,
    Texts,
    _environment,
    _reads_same,
    _render,
    _same,
)

_LONG = "word " * 60
_CONTEXTS: list[dict[str, Any]] = [
    {},
    {"folder": "en", "web": {"title": "Acme", "base_url": "https://desk.example"},
     "instance": {"name": "Acme", "domain": "example.com"},
     "ticket": {"number": "2026120210000012", "title": "Printer on fire", "state": "new",
                "priority": 3, "queue": "Support", "owner": "", "tags": ["a", "b"],
                "locked": False, "customer": "ann@example.org"},
     "customer": {"name": "Ann", "address": "ann@example.org"},
     "queue": {"name": "Support", "display_name": "Acme Help", "address": "s@example.com"},
     "agent": {"name": "Bob", "address": "bob@example.com"}, "subject": "Printer",
     "tag": "[Ticket#1]", "body": "Hi\n<b>bold</b> &amp; <script>x</script>\n" + _LONG,
     "suggestions": [{"title": "Reset", "excerpt": "Turn it off", "url": "https://x"}],
     "attachments": [{"filename": "a.pdf", "content_type": "application/pdf", "size": 3}],
     "more": {"lines": 3, "kb": 1, "url": "https://desk.example/tickets/1"},
     "commands": [("/close", "closes"), ("/lock", "locks")], "event": "new",
     "old_queue": "Sales", "actor": "system", "reply_to": "s+t1@example.com",
     "language": "de", "result": {"ok": True, "lines": ["done"]}, "reason": "loop",
     "error": "550 no", "due": "2026-12-02", "kind": "notification"},
    {"folder": "de", "web": {"title": "Grüße GmbH", "base_url": ""},
     "ticket": {"number": 1.0, "title": "Ärger mit 日本語 " + _LONG, "priority": True,
                "items": "shadow", "keys": [1], "get": None, "values": {"x": 1}},
     "customer": {"name": "Jürgen Ä", "address": "jürgen@example.org", "update": 1},
     "queue": {}, "agent": {"name": None}, "subject": "Ü" * 200, "body": "ä\n" * 50,
     "attachments": [{"filename": "ü.txt"}, {}], "more": {"lines": 0, "kb": 0, "url": ""},
     "commands": [], "suggestions": [{}]},
    {"ticket": [], "customer": "not a dict", "queue": None, "agent": 3, "more": "x",
     "attachments": "ab", "web": None, "body": 12},
]


def _theirs(env: SandboxedEnvironment) -> SandboxedEnvironment:
    """Jinja2's own sandbox, configured as ours."""
    plain = SandboxedEnvironment(
        loader=env.loader, autoescape=False, undefined=jinja2.ChainableUndefined,
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    assert plain.context_class is jinja2.runtime.Context
    return plain


def _templates() -> list[str]:
    return sorted(str(p.relative_to(SHIPPED_TEMPLATES)) for p in SHIPPED_TEMPLATES.rglob("*.txt"))


@pytest.mark.parametrize("name", _templates())
def test_every_template_renders_as_jinja2s_sandbox(name: str) -> None:
    ours = _environment(None, SHIPPED_TEMPLATES)
    theirs = _theirs(ours)
    for values in _CONTEXTS:
        expected: tuple[str, object]
        try:
            expected = ("text", theirs.get_template(name).render(**values))
        except Exception as exc:
            expected = ("error", (type(exc), str(exc)))
        for shared in (False, True):  # Template.render, and render_shared's own _render
            template = ours.get_template(name)
            try:
                got: tuple[str, object] = ("text", _render(template, dict(values), Texts())
                                           if shared else template.render(**values))
            except Exception as exc:
                got = ("error", (type(exc), str(exc)))
            assert got == expected, (name, values)


class _Obj:
    number = 7
    _private = 1

    def method(self) -> int:
        return 1


class _Sub(dict[str, Any]):
    pass


_NAMES = ["number", "title", "items", "keys", "get", "values", "update", "pop", "clear",
          "copy", "fromkeys", "__class__", "__len__", "__init__", "__dict__", "mro",
          "format", "missing", "_private", "method", "upper", "__name__", "", "0"]
_OBJECTS: list[Any] = [
    {}, {"number": 1, "title": "x"}, {n: n.upper() for n in _NAMES}, _Sub(number=2, items=3),
    [], ["a"], "text", "{0}", 5, None, _Obj(), ChainMap({"number": 1}),
    {"number": {"deep": 1}}, {1: "one"}]


def _shown(value: Any) -> object:
    if isinstance(value, jinja2.Undefined):
        return ("undefined", type(value), value._undefined_name,
                id(value._undefined_obj), value._undefined_hint)
    if callable(value):
        return ("callable", getattr(value, "__qualname__", None),
                repr(getattr(value, "__self__", None)))
    return ("value", type(value), value)


def test_getattr_as_the_sandbox() -> None:
    ours = _environment(None, SHIPPED_TEMPLATES)
    theirs = _theirs(ours)
    for obj in _OBJECTS:
        for name in _NAMES:
            assert _shown(ours.getattr(obj, name)) == _shown(theirs.getattr(obj, name)), \
                (obj, name)


def test_context_globals_keys_as_jinja2s(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("{{ x }}\n")
    ours = _environment(tmp_path, SHIPPED_TEMPLATES)
    template = ours.get_template("t.txt")
    for globals_ in (template.globals, dict(template.globals), None, ChainMap()):
        mine = ours.context_class(ours, {"x": 1}, "t.txt", {}, globals=globals_)
        jinjas = jinja2.runtime.Context(ours, {"x": 1}, "t.txt", {}, globals=globals_)
        assert mine.globals_keys == jinjas.globals_keys
        assert type(mine.globals_keys) is set


def _old_same(a: object, b: object) -> bool:
    """templating._same before issue 20's loops: the oracle."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return list(a) == list(b) and all(_old_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list | tuple):
        assert isinstance(b, list | tuple)
        return len(a) == len(b) and all(_old_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


class _StrSub(str):
    pass


class _DictSub(dict[str, Any]):
    pass


def test_same_as_before() -> None:
    nan = float("nan")
    leaves: list[Any] = [1, 1.0, True, 0, False, None, "", "1", _StrSub("1"), nan,
                         float("nan"), [], (), {}, "ä", b"1"]
    values: list[Any] = [*leaves]
    values += [[x] for x in leaves] + [(x,) for x in leaves] + [[x, y] for x in leaves[:5]
                                                              for y in leaves[:5]]
    values += [{"a": x} for x in leaves] + [{"b": x} for x in leaves[:3]]
    values += [{"a": 1, "b": 2}, {"b": 2, "a": 1}, _DictSub(a=1), {"a": {"b": [1, (2,)]}},
               {"a": {"b": [1, [2]]}}, {"a": {"b": [1, (2.0,)]}}]
    values += [{"x": v} for v in values[-6:]] + [[v] for v in values[-6:]]
    for a in values:
        for b in values:
            assert _same(a, b) == _old_same(a, b), (a, b)
    seen = {"a": 1, "b": {"c": [1]}, "d": _MISSING}
    for given in ({"a": 1, "b": {"c": [1]}}, {"a": 1, "b": {"c": [1]}, "d": 2},
                  {"a": True, "b": {"c": [1]}}, {"b": {"c": [1]}}, {}):
        assert _reads_same(given, seen) == all(
            _old_same(given.get(n, _MISSING), v) for n, v in seen.items())
