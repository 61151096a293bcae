"""render_shared's own context (templating._render, issue 20) against Template.render."""

from __future__ import annotations

from pathlib import Path

import pytest

from maildesk.outbound.templating import SHIPPED_TEMPLATES, Texts, _environment, _render

VALUES = {
    "folder": "en", "web": {"title": "Acme", "base_url": "https://desk.example"},
    "ticket": {"number": "2026120210000012", "title": "Printer on fire"},
    "customer": {"name": "Ann"}, "queue": {"name": "Support", "display_name": "Acme Help"},
    "agent": {"name": "Bob"}, "subject": "Printer", "tag": "[Ticket#1]", "body": "Hi\n",
    "suggestions": [{"title": "Reset", "excerpt": "Turn it off", "url": "https://x"}],
    "attachments": [{"filename": "a.pdf", "content_type": "application/pdf", "size": 3}],
    "more": {"lines": 3, "kb": 1, "url": ""}, "commands": [("/close", "closes")],
}


def _templates() -> list[str]:
    return sorted(str(p.relative_to(SHIPPED_TEMPLATES)) for p in SHIPPED_TEMPLATES.rglob("*.txt"))


@pytest.mark.parametrize("name", _templates())
def test_same_text_as_template_render(name: str) -> None:
    env = _environment(None, SHIPPED_TEMPLATES)
    template = env.get_template(name)
    texts = Texts()
    for values in (VALUES, {}, {**VALUES, "range": "shadowed", "folder": "de"}):
        assert _render(template, dict(values), texts) == template.render(**values)


def test_globals_and_errors_as_jinja(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("{{ range(3) | list }} {{ x }} {{ 1 // y }}\n")
    env = _environment(tmp_path, SHIPPED_TEMPLATES)
    template = env.get_template("t.txt")
    texts = Texts()
    assert _render(template, {"x": 1, "y": 1}, texts) == template.render(x=1, y=1)
    for values in ({"x": 1, "y": 0}, {"x": 1, "y": "a"}):
        with pytest.raises(Exception) as ours:
            _render(template, dict(values), texts)
        with pytest.raises(Exception) as theirs:
            template.render(**values)
        assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))
    sandboxed = env.from_string("[{{ x.__class__.__mro__ }}]")  # undefined in the sandbox
    assert _render(sandboxed, {"x": 1}, texts) == sandboxed.render(x=1) == "[]"
