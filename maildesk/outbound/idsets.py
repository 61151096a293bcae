"""A statement over a set of row ids, with one bound parameter per id (issue 20).

`column.in_(bindparam(..., expanding=True))` is rendered anew at every execution
(SQLAlchemy's post-compile step writes the `IN (?, ?, ...)` list), and store/lean.py
leaves such a statement to SQLAlchemy's full execution path: together ~50-75 us more a
statement than a plain one, and the sender runs five of them a claim hop (the claim's
UPDATE and SELECT, the quoted articles and their attachments, the settle's SELECT).
Here the list has a fixed size, the next power of two at or above the ids' count, the
last id repeated to fill it (`IN` of a repeated value is the same condition); the
statement is built once per size by the caller's cache, and lean.py runs it. Past
`LARGEST` ids the caller keeps its expanding form.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, bindparam
from sqlalchemy.orm import InstrumentedAttribute

__all__ = ["LARGEST", "ids_in", "ids_params", "sized"]

LARGEST = 256  # ids a sized statement takes; SQLite before 3.32 allowed 999 parameters


def sized(count: int) -> int | None:
    """The list size for `count` ids (a power of two); None past LARGEST or for none (the
    expanding form then)."""
    if count < 1 or count > LARGEST:
        return None
    size = 1
    while size < count:
        size *= 2
    return size


def ids_in(column: ColumnElement[Any] | InstrumentedAttribute[Any], size: int | None
           ) -> ColumnElement[bool]:
    """`column IN (:id_0, ..., :id_<size-1>)`; with no size, `column IN (:ids)` expanding."""
    if size is None:
        return column.in_(bindparam("ids", expanding=True))
    return column.in_([bindparam(f"id_{k}", type_=column.type) for k in range(size)])


def ids_params(ids: Sequence[int], size: int | None, **more: Any) -> dict[str, Any]:
    """The parameters of `ids_in(..., size)` for `ids` (at least one, at most `size`): each
    id once, the last repeated to fill the list; and `more`."""
    if size is None:
        return {"ids": list(ids), **more}
    last = len(ids) - 1
    params = {f"id_{k}": ids[k if k <= last else last] for k in range(size)}
    params.update(more)
    return params
