"""Every exception maildesk raises on purpose joins the tree drawn in maildesk/errors.py."""

from __future__ import annotations

import re

import pytest

from maildesk import errors
from maildesk.addresses import AddressError
from maildesk.commands.base import CommandError
from maildesk.config import ConfigError
from maildesk.config.patterns import RegexError
from maildesk.customers.record import BackendDown
from maildesk.errors import InputError, MaildeskError, Unavailable
from maildesk.http.errors import ApiError
from maildesk.mailboxes.credentials import AuthError
from maildesk.mailboxes.state import LeaseLost
from maildesk.mailboxes.sync import Deferred
from maildesk.outbound.render import InvalidAddress

TREE: dict[type[Exception], type[Exception]] = {
    ConfigError: MaildeskError, CommandError: MaildeskError, ApiError: MaildeskError,
    AddressError: InputError, InvalidAddress: InputError, RegexError: InputError,
    AuthError: Unavailable, BackendDown: Unavailable, Deferred: Unavailable,
    LeaseLost: Unavailable,
}


@pytest.mark.parametrize("leaf", list(TREE), ids=lambda c: c.__name__)
def test_leaf_joins_its_family(leaf: type[Exception]) -> None:
    assert issubclass(leaf, TREE[leaf])
    assert issubclass(leaf, MaildeskError)


def test_input_errors_stay_value_errors() -> None:
    """Callers that caught ValueError before the tree existed still catch them."""
    assert issubclass(InputError, ValueError)
    with pytest.raises(ValueError):
        raise AddressError("no @")


def test_docstring_draws_every_leaf() -> None:
    drawn = set(re.findall(r"[├└]── (\w+)", errors.__doc__ or ""))
    assert {c.__name__ for c in TREE} | {"InputError", "Unavailable"} == drawn
