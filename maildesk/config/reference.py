"""Every config key with its default and doc, from the declarations in model.py.

`python -m maildesk.config.reference` prints the README's key table; tests/test_docs.py
checks that the README names every key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from maildesk.config.fields import settings
from maildesk.config.model import Config


def config_keys() -> Iterator[tuple[str, str, Any]]:
    """(dotted key, doc, default) for every key; list items are written `queues[].name`."""
    for top in dataclasses.fields(Config):
        if not top.metadata:
            continue
        meta = top.metadata
        cls = meta.get("section") or meta.get("items")
        if cls is None:
            yield top.name, meta["doc"], top.default
            for key, doc in meta.get("keys", {}).items():
                yield f"{top.name}[].{key}", doc, None
            continue
        prefix = top.name if "section" in meta else f"{top.name}[]"
        for f in settings(cls):
            default = f.default if f.default is not dataclasses.MISSING else None
            if f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            show = getattr(f.metadata["read"], "show", None)
            if show is not None and default is not None:
                default = show(default)
            yield f"{prefix}.{f.name}", f.metadata["doc"], default
        for alias in meta.get("aliases", ()):
            for f in settings(cls):
                yield f"{alias}.{f.name}", f"the same as `{prefix}.{f.name}`", None


def _shown(default: Any) -> str:
    if default is None or default == () or default == "" or default is dataclasses.MISSING:
        return ""
    if isinstance(default, tuple) and len(default) == 2 and isinstance(default[1], int):
        return f"{default[0]}:{default[1]}"
    if isinstance(default, Path):
        return f"./{default}"
    if isinstance(default, dict):
        return ", ".join(k for k, on in default.items() if on)
    if isinstance(default, bool):
        return str(default).lower()
    return str(default)


def table() -> str:
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for key, doc, default in config_keys():
        rows.append(f"| `{key}` | {_shown(default)} | {doc.replace('|', '/')} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
