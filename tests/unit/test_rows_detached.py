"""store.rows._detached (issue 20) leaves an object in the state make_transient_to_detached
leaves it in: the same identity key, nothing expired, modified or committed, the same
attributes unloaded; and takes the full way for any object it does not cover."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state

from maildesk.store.models import Article, Customer, History, Ticket
from maildesk.store.rows import _detached, new_object


def _made(cls: type[Any], missing: str | None = None) -> Any:
    """An object as insert_object / loaded_objects hold it: every column, its key set."""
    values = {prop.key: None for prop in inspect(cls).column_attrs if prop.key != missing}
    values["id"] = 7
    return new_object(cls, **values)


def _facts(obj: Any) -> tuple[Any, ...]:
    state = instance_state(obj)
    return (state.key, set(state.expired_attributes), dict(state.committed_state),
            state.modified, state.expired, set(state.unloaded),
            {k: v for k, v in state.dict.items() if k != "_sa_instance_state"},
            state._strong_obj is None)


@pytest.mark.parametrize("cls", [Ticket, Article, Customer, History])
def test_the_state_make_transient_to_detached_leaves(cls: type[Any]) -> None:
    ours, theirs = _made(cls), _made(cls)
    _detached(ours, instance_state(ours), 7)
    make_transient_to_detached(theirs)
    assert _facts(ours) == _facts(theirs)
    assert instance_state(ours).key == (cls, (7,), None)


def test_a_missing_column_is_expired_as_the_orm_does() -> None:
    ours, theirs = _made(Ticket, missing="title"), _made(Ticket, missing="title")
    _detached(ours, instance_state(ours), 7)
    make_transient_to_detached(theirs)
    assert "title" in instance_state(ours).expired_attributes
    assert _facts(ours) == _facts(theirs)


def test_an_object_with_history_goes_the_full_way() -> None:
    ours, theirs = _made(Ticket), _made(Ticket)
    ours.title = theirs.title = "changed"  # an attribute event: committed state, modified
    _detached(ours, instance_state(ours), 7)
    make_transient_to_detached(theirs)
    assert _facts(ours) == _facts(theirs)
    assert not instance_state(ours).modified


def test_an_object_with_a_key_is_refused_as_before() -> None:
    obj = _made(Ticket)
    _detached(obj, instance_state(obj), 7)
    with pytest.raises(InvalidRequestError):
        _detached(obj, instance_state(obj), 7)
