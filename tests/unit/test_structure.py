"""The layering rules of issue 12, read from the source with `ast` (nothing is imported).

Where main still breaks a rule because the work that fixes it is in flight, the offender is
listed below, and the test requires the list to equal what it finds: the lists can only
shrink, and a new offender fails here with its name.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "maildesk"
MAX_LINES = 400

# module -> why it is still here. Remove a line when its module is fixed.
KNOWN_LONG: dict[str, str] = {
}
KNOWN_CYCLES: dict[frozenset[str], str] = {
}
KNOWN_INTAKE_TO_UPPER: dict[tuple[str, str], str] = {}
KNOWN_OUTBOUND_TO_UPPER: dict[tuple[str, str], str] = {}
KNOWN_ENTRANCE_TICKET_ORM: dict[str, str] = {}

# The entrances (one protocol each) and the ticket tables they reach only through the core.
ENTRANCES = ("maildesk.http", "maildesk.admin", "maildesk.cli", "maildesk.smtp",
             "maildesk.deliver", "maildesk.mailboxes")
TICKET_TABLES = frozenset({"Ticket", "Article", "History", "AttachmentRow", "MessageIdRow"})

# What outbound must not reach: the mail pipeline and the composition root.
PIPELINE = ("maildesk.pipeline", "maildesk.classify", "maildesk.routing", "maildesk.core.threads",
            "maildesk.app", "maildesk.daemon", "maildesk.bootstrap", "maildesk.agents")


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module an import loads: `a.b.c` when it is a module, else its package `a.b`."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


@functools.cache
def _imports(module: str) -> tuple[tuple[str, bool], ...]:
    """(imported maildesk module, only for type checking) at any depth, functions included."""
    return tuple(_find_imports(module))


def _find_imports(module: str) -> Iterator[tuple[str, bool]]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def walk(node: ast.AST, typing_only: bool) -> Iterator[tuple[str, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for sub in child.body:
                    yield from walk_one(sub, True)
                for sub in child.orelse:
                    yield from walk_one(sub, typing_only)
            else:
                yield from walk_one(child, typing_only)

    def walk_one(node: ast.AST, typing_only: bool) -> Iterator[tuple[str, bool]]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name)
                if target:
                    yield target, typing_only
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            if base.split(".")[0] == "maildesk":
                for alias in node.names:
                    target = _resolve(f"{base}.{alias.name}")
                    if target:
                        yield target, typing_only
        yield from walk(node, typing_only)

    yield from walk(ast.parse(path.read_text(encoding="utf-8")), False)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@functools.cache
def _graph() -> dict[str, set[str]]:
    """Runtime edges only: an import under `if TYPE_CHECKING:` never runs."""
    return {m: {t for t, typing_only in _imports(m) if not typing_only and t != m}
            for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def test_no_module_above_the_cap() -> None:
    long = {m for m, p in MODULES.items()
            if len(p.read_text(encoding="utf-8").splitlines()) > MAX_LINES}
    assert long == set(KNOWN_LONG), (
        f"modules above {MAX_LINES} lines (new: {sorted(long - set(KNOWN_LONG))}, "
        f"fixed, remove from KNOWN_LONG: {sorted(set(KNOWN_LONG) - long)})")


def test_no_import_cycle() -> None:
    cycles = _cycles(_graph())
    assert cycles == set(KNOWN_CYCLES), (
        f"import cycles (new: {[sorted(c) for c in cycles - set(KNOWN_CYCLES)]}, "
        f"gone, remove from KNOWN_CYCLES: {[sorted(c) for c in set(KNOWN_CYCLES) - cycles]})")


def test_no_import_cycle_even_for_types() -> None:
    """Type-only imports count too: a module that needs another's type for its signature
    sits above it (the mail `Context` lives in `core.context`, below the pipeline, the
    agents and `/solved` that take it)."""
    graph = {m: {t for t, _ in _imports(m) if t != m} for m in MODULES}
    assert _cycles(graph) == set(KNOWN_CYCLES)


def test_intake_imports_nothing_above_it() -> None:
    """Intake is pure: bytes in, values out; no store, no pipeline, no App (types included)."""
    upper = ("maildesk.store", "maildesk.app", "maildesk.pipeline", "maildesk.outbound")
    found = {(m, t) for m in MODULES if _within(m, "maildesk.intake")
             for t, _ in _imports(m) if any(_within(t, u) for u in upper)}
    assert found == set(KNOWN_INTAKE_TO_UPPER), (
        f"intake reaching up (new: {sorted(found - set(KNOWN_INTAKE_TO_UPPER))}, fixed: "
        f"{sorted(set(KNOWN_INTAKE_TO_UPPER) - found)})")


def test_outbound_imports_no_pipeline_and_no_app() -> None:
    found = {(m, t) for m in MODULES if _within(m, "maildesk.outbound")
             for t, _ in _imports(m) if any(_within(t, u) for u in PIPELINE)}
    assert found == set(KNOWN_OUTBOUND_TO_UPPER), (
        f"outbound reaching into the pipeline or App (new: "
        f"{sorted(found - set(KNOWN_OUTBOUND_TO_UPPER))}, fixed: "
        f"{sorted(set(KNOWN_OUTBOUND_TO_UPPER) - found)})")


def _ticket_tables(module: str) -> set[str]:
    """The ticket ORM classes a module imports to run with (type-only imports excluded)."""
    found: set[str] = set()

    def walk(node: ast.AST, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for sub in child.body:
                    walk_one(sub, True)
                for sub in child.orelse:
                    walk_one(sub, typing_only)
            else:
                walk_one(child, typing_only)

    def walk_one(node: ast.AST, typing_only: bool) -> None:
        if (isinstance(node, ast.ImportFrom) and node.module == "maildesk.store.models"
                and not typing_only):
            found.update(a.name for a in node.names if a.name in TICKET_TABLES)
        walk(node, typing_only)

    walk(ast.parse(MODULES[module].read_text(encoding="utf-8")), False)
    return found


def test_entrances_reach_tickets_through_the_core() -> None:
    """The CLI, SMTP, the mailboxes and HTTP read and change tickets with `core/`'s
    operations and queries, not the ticket tables (a type for a signature is fine)."""
    found = {m for m in MODULES if any(_within(m, e) for e in ENTRANCES) and _ticket_tables(m)}
    assert found == set(KNOWN_ENTRANCE_TICKET_ORM), (
        f"entrances on the ticket tables (new: {sorted(found - set(KNOWN_ENTRANCE_TICKET_ORM))},"
        f" fixed: {sorted(set(KNOWN_ENTRANCE_TICKET_ORM) - found)})")


def test_the_checks_see_the_code() -> None:
    """The walker finds function-level and type-only imports (else every check is empty)."""
    imported = dict(_imports("maildesk.redeliver")) if (
        "maildesk.redeliver" in MODULES) else {}
    graph = _graph()
    assert sum(len(edges) for edges in graph.values()) > 300
    assert len(MODULES) > 100
    if imported:
        assert imported.get("maildesk.pipeline") is False  # imported inside a function
    assert _ticket_tables("maildesk.core.queries") >= {"Ticket", "History"}
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {
        frozenset({"a", "b", "c"})}
