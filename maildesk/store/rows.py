"""Rows of the mail path written with one cached Core INSERT each, then handed to the
session as persistent objects, as if a query had loaded them (issue 20).

The ORM's unit of work costs far more than the INSERT it sends: a flush walks the
session's objects, sorts its dependencies, fires its events and fetches the new key. A
new ticket and its article are written here instead; the rest of the transaction still
reads and changes them as ORM objects (an UPDATE of a ticket keeps its version check).

What the flush hooks learnt from `session.new` the callers now say themselves: the ticket
counts (`store.rollup.add`) and the due times (`timers.hooks.written`).
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Table, insert, inspect
from sqlalchemy.orm import Mapper, Session, configure_mappers, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state

from maildesk.store.db import execute_core

__all__ = ["insert_object", "loaded_objects", "new_object", "table_columns"]

T = TypeVar("T")


@functools.cache
def _plan(cls: Hashable) -> tuple[Any, tuple[tuple[str, str], ...], str, frozenset[str]]:
    """(the cached INSERT, (attribute, column) pairs but the key, the key's attribute,
    the relationships' attributes)."""
    mapper: Mapper[Any] = inspect(cls)
    table = cast(Table, mapper.local_table)
    (key,) = mapper.primary_key
    pairs = tuple((prop.key, prop.columns[0].key) for prop in mapper.column_attrs
                  if prop.columns[0] is not key)
    related = frozenset(prop.key for prop in mapper.relationships)
    return insert(table), pairs, mapper.get_property_by_column(key).key, related


def new_object(cls: type[T], **values: Any) -> T:
    """A transient `cls` holding `values`, made as a query's loading makes one: straight
    into its dict, without the constructor's attribute events (a fifth of an article's
    cost through `Article(...)`). For `insert_object`, which takes every column."""
    obj: T = _manager(cast(Hashable, cls)).new_instance()
    obj.__dict__.update(values)
    return obj


@functools.cache
def _manager(cls: Hashable) -> Any:
    configure_mappers()  # what a mapped class's constructor makes sure of first
    return inspect(cls).class_manager


def insert_object(session: Session, obj: T) -> T:
    """INSERT `obj` (a transient object whose every column but its key is set: KeyError
    otherwise) and attach it to `session` as persistent and unchanged.

    A savepoint rolled back leaves the object in the session, expired; SQLite may give
    its id to the next row, so an object still holding that identity is let go first."""
    statement, pairs, key_attr, related = _plan(cast(Hashable, type(obj)))
    values = obj.__dict__
    result = execute_core(session, statement, {column: values[attr] for attr, column in pairs})
    values[key_attr] = cast(Any, result).inserted_primary_key[0]  # as `new_object` wrote
    state: Any = instance_state(obj)
    _detached(obj, state, values[key_attr])  # the rest: no attribute events
    stale = session.identity_map.get(state.key)
    if stale is not None:
        session.expunge(stale)
    _attach(session, obj, state, related)
    return obj


def _detached(obj: object, state: Any, key: Any) -> None:
    """`make_transient_to_detached(obj)` for an object `new_object` made holding every
    column (issue 20: ~12 -> ~2 us an object, two or three a mail). Such a state has no
    history to commit (no attribute event ever fired on it: nothing modified, expired or
    committed), and what it lacks are relationships, which expiring leaves as they are
    (only attributes loaded as scalars are marked expired; the rest would only fire the
    `expire` event). So its identity key is all there is to set, as the mapper makes it
    from a one-column key. Any other state goes the full way."""
    manager = state.manager
    if (state.key is not None or state.session_id or state.modified or state.committed_state
            or state.expired_attributes or state._deleted or manager.dispatch.expire
            or not _scalar_keys(manager).issubset(state.dict)):
        make_transient_to_detached(obj)
        return
    state.key = manager.mapper.identity_key_from_primary_key((key,))


@functools.cache
def _scalar_keys(manager: Any) -> frozenset[str]:
    """The attributes of a class that `make_transient_to_detached` marks expired when
    missing (those loaded as scalars: columns, column expressions)."""
    return frozenset(key for key in manager if manager[key].impl.accepts_scalar_loader)


def _attach(session: Session, obj: object, state: Any, related: frozenset[str]) -> None:
    """`obj`, detached with its key, into the session as persistent and unchanged."""
    if related.isdisjoint(obj.__dict__):
        # `session.add(obj)` but for its save-update cascade, which walks every
        # relationship of the object to find none set on one made by `new_object`
        # (its relationships are told afterwards, set_committed_value): ~10 us an
        # object, a ticket and an article a new ticket's mail.
        state._orphaned_outside_of_session = False
        session._save_or_update_impl(state)
    else:
        session.add(obj)


@functools.cache
def _columns(cls: Hashable) -> tuple[tuple[Any, ...], tuple[str, ...], int, Any]:
    """(the table's columns, their attributes in the same order, the key's position,
    the mapper)."""
    mapper: Mapper[Any] = inspect(cls)
    table = cast(Table, mapper.local_table)
    (key,) = mapper.primary_key
    columns = tuple(table.c)
    return (columns, tuple(mapper.get_property_by_column(c).key for c in columns),
            columns.index(key), mapper)


def table_columns(cls: type[Any]) -> tuple[Any, ...]:
    """The columns of `cls`'s table, in the order `loaded_objects` reads them."""
    return _columns(cast(Hashable, cls))[0]


def loaded_objects(session: Session, cls: type[T], rows: Sequence[Sequence[Any]],
                   at: int = 0) -> list[T] | None:
    """The `cls` objects an ORM query would give for `rows` (Core rows holding
    `table_columns(cls)` from position `at`), for a statement run past the ORM's
    `Session.execute` (issue 20: ~100 us of a reply's threading SELECT): the object the
    session holds for a row's key, as the ORM's loading gives it (a loaded object's values
    stay), else one made from the row and attached persistent and unchanged, as
    `insert_object` attaches one. None when the session holds one of them with expired
    attributes (the ORM's loading fills them in from the row): the caller runs its ORM
    query instead."""
    columns, attrs, key_at, mapper = _columns(cast(Hashable, cls))
    related = _plan(cast(Hashable, cls))[3]
    identity_map = session.identity_map
    end = at + len(columns)
    made: list[T] = []
    for row in rows:
        values = row[at:end]
        key = mapper.identity_key_from_primary_key((values[key_at],))
        held = identity_map.get(key)
        if held is not None:
            if instance_state(held).expired_attributes:
                return None
            made.append(held)
            continue
        obj = new_object(cls, **dict(zip(attrs, values, strict=True)))
        state = instance_state(obj)
        _detached(obj, state, values[key_at])
        _attach(session, obj, state, related)
        made.append(obj)
    return made
