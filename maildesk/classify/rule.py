"""A classification rule: a name, what it looks for, and one check returning its reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from maildesk.classify.facts import Facts

__all__ = ["Rule", "rule"]


@dataclass(frozen=True)
class Rule:
    """`check` returns the reasons it found (recorded on the classification), none if it
    did not match. The name is what `Classification.hits` and the logs show."""

    name: str
    description: str
    check: Callable[[Facts], list[str]]


def rule(name: str) -> Callable[[Callable[[Facts], list[str]]], Rule]:
    """Make a function a Rule; its docstring is the description."""
    def wrap(check: Callable[[Facts], list[str]]) -> Rule:
        return Rule(name, (check.__doc__ or "").strip(), check)
    return wrap
