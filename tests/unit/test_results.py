"""One result word per meaning: every word the code gives is declared and documented."""

from __future__ import annotations

import re

from maildesk.outcome import RESULTS
from tests.unit.test_structure import MODULES, REPO

_GIVEN = (re.compile(r'Outcome\(\s*"(\w+)"'), re.compile(r'stored\([^()]*,\s*"(\w+)"\)'),
          re.compile(r'\n\s*"(\w+)", "2\.0\.0'))  # App._spool(..., result, text)


def test_every_result_word_is_declared() -> None:
    given = {m for path in MODULES.values() for pattern in _GIVEN
             for m in pattern.findall(path.read_text(encoding="utf-8"))}
    assert {"unmatched_bounce", "quarantined", "spooled", "duplicate"} <= given
    assert given - {"stored"} <= set(RESULTS), sorted(given - set(RESULTS))


def test_every_result_word_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split("### What each mail came to", 1)[1].split("\n#", 1)[0]
    assert [w for w in RESULTS if f"| `{w}` |" not in table] == []
