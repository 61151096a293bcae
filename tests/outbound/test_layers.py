"""Outbound is a layer below the entrances: it takes events and what it uses, and never
reaches back into the pipeline, the process's App or mail composition from the outbox."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

OUTBOUND = REPO / "maildesk" / "outbound"
FORBIDDEN = ("maildesk.pipeline", "maildesk.app", "maildesk.classify", "maildesk.core.threads",
             "maildesk.agents", "maildesk.routing", "maildesk.daemon", "maildesk.cli")
COMPOSING = ("maildesk.outbound.dispatch", "maildesk.outbound.customer",
             "maildesk.outbound.agent", "maildesk.outbound.compose")


def imports(path: object) -> set[str]:
    """Every module a file imports, at the top, in functions or under TYPE_CHECKING."""
    tree = ast.parse(Path(str(path)).read_text())  # closed at once: a leaked descriptor
    # closed later by the garbage collector upset fd-counting tests that ran then
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def test_outbound_imports_no_pipeline_module_and_no_app() -> None:
    for path in sorted(OUTBOUND.glob("*.py")):
        bad = {m for m in imports(path) if m.startswith(FORBIDDEN)}
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_the_outbox_never_calls_back_into_mail_composition() -> None:
    bad = {m for m in imports(OUTBOUND / "outbox.py") if m.startswith(COMPOSING)}
    assert not bad, sorted(bad)


def test_loading_outbound_loads_none_of_them() -> None:
    code = ("import sys, maildesk.outbound.dispatch, maildesk.outbound.sender\n"
            f"print(sorted(m for m in sys.modules if m.startswith({FORBIDDEN!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO, timeout=60)
    assert out.stdout.strip() == "[]"
