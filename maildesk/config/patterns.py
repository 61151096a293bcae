"""Rule patterns on a linear-time engine (RE2), so no subject can stall the daemon.

Python's `re` backtracks: `(a+)+$` against 35 characters takes minutes, holding the GIL,
so every thread of the daemon stops with it. RE2 (google-re2) runs in time linear in the
input for any pattern it accepts. What it refuses (backreferences, look-around, possessive
or atomic groups) is exactly what cannot be bounded, and `check-config` reports it.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol

import re2  # type: ignore[import-untyped]

from maildesk.errors import InputError

__all__ = ["Matcher", "RegexError", "compile_glob", "compile_regex"]


class Matcher(Protocol):
    def search(self, text: str) -> Any: ...

    def fullmatch(self, text: str) -> Any: ...


class RegexError(InputError):
    """A pattern RE2 cannot take: the message says why."""


def _options(*, case_sensitive: bool = True, dot_nl: bool = False) -> Any:
    options = re2.Options()
    options.log_errors = False  # our caller reports it, file:line; no absl noise on stderr
    options.case_sensitive = case_sensitive
    options.dot_nl = dot_nl
    options.max_mem = 8 << 20  # a bound on the compiled program, too
    return options


def compile_regex(source: str) -> Matcher:
    """A rule's `{regex: ...}`: Python-style syntax as far as RE2 has it (classes, groups,
    `(?i)` and the like); raises RegexError for what it lacks."""
    try:
        return re2.compile(source, _options())  # type: ignore[no-any-return]
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        if any(word in str(reason) for word in ("escape", "perl operator", "bad repetition")):
            reason = (f"{reason} (rule patterns run on RE2, in linear time: backreferences, "
                      "look-around and possessive repeats cannot be bounded)")
        raise RegexError(str(reason)) from None


@functools.lru_cache(maxsize=4096)
def compile_glob(glob: str) -> Matcher:
    """Only `*` and `?` are wildcards: `[` stays literal, since subjects such as
    `[URGENT]*` are common and fnmatch would read them as character classes.
    Case-insensitive, matched against the whole value."""
    parts = [".*" if c == "*" else "." if c == "?" else re2.escape(c) for c in glob]
    return re2.compile("".join(parts), _options(case_sensitive=False,  # type: ignore[no-any-return]
                                                dot_nl=True))
