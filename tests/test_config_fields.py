"""The declaration pattern other sections follow: one `setting()` per key, read generically."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from maildesk.config import fields as f
from maildesk.config.fields import read_items, read_section
from maildesk.config.values import parse_duration, parse_hostport
from maildesk.config.walker import Walker


@dataclass(frozen=True)
class Timers:
    sla: float | None = f.setting(None, read=f.parsed(parse_duration), doc="first answer due")
    http: tuple[str, int] | None = f.setting(None, read=f.endpoint(parse_hostport), doc="x")
    state_dir: Path = f.setting(Path("var/timers"), read=f.path, doc="relative to the config")


@dataclass(frozen=True)
class Hook:
    name: str = f.setting(read=f.text(), doc="its name")
    groups: tuple[str, ...] = f.setting((), read=f.refs("groups"), doc="who")
    line: int = 0


def walk(text: str) -> tuple[Walker, yaml.Node]:
    loader = yaml.SafeLoader(text)
    root = loader.get_single_node()
    assert root is not None
    return Walker(loader, Path("/etc/maildesk")), root


def test_a_section_is_read_from_its_declarations() -> None:
    w, root = walk("sla: 1h30m\nhttp: '[::1]:8080'\n")
    timers, entries = read_section(w, root, Timers, "timers")
    assert w.problems == []
    assert timers == Timers(
        sla=5400.0, http=("::1", 8080), state_dir=Path("/etc/maildesk/var/timers")
    )
    assert set(entries) == {"sla", "http"}


def test_bad_values_and_unknown_keys_are_reported_with_their_line() -> None:
    w, root = walk("sla: soon\nhttp: false\ncolour: red\n")
    timers, _ = read_section(w, root, Timers, "timers")
    assert timers.http is None and timers.sla is None
    assert sorted(w.problems) == [
        (1, "timers.sla: not a duration: 'soon' (write e.g. 30s, 15m, 1h, 5d)"),
        (3, "timers: unknown key 'colour' (allowed: sla, http, state_dir)"),
    ]


def test_list_items_need_their_required_keys_and_may_refer_to_other_sections() -> None:
    w, root = walk("- name: a\n  groups: [support, nobody]\n- groups: [support]\n- name: a\n")
    w.known["groups"] = {"support": {}}
    meta = {"items": Hook, "title": "hook '{}'", "ident": "name", "unique": True}
    hooks = [h for h, _ in read_items(w, root, "hooks", meta)]
    assert [(h.name, h.groups, h.line) for h in hooks] == [
        ("a", ("support", "nobody"), 1),
        ("a", (), 4),
    ]
    assert sorted(w.problems) == [
        (2, "hook 'a': groups: unknown group 'nobody' (groups: support)"),
        (3, "hooks[1]: missing required key 'name'"),
        (4, "hook 'a': duplicate hook name (first on line 1)"),
    ]
