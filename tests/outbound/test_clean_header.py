"""clean_header's cache (issue 20): the same text as the cleaning itself, cached or not."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from maildesk.outbound.render import _clean, clean_header

_TEXT = st.lists(st.sampled_from(
    ["a", " ", "\t", "\r", "\n", "\x00", "\x7f", "\x85", "\u2028", "\u202e", "\u200f", "é",
     "日", "=?utf-8?q?x?="]), max_size=60).map("".join)


@settings(max_examples=2000, deadline=None)
@given(value=_TEXT, limit=st.sampled_from([900, 200, 3]))
def test_cached_cleaning_is_the_cleaning(value: str, limit: int) -> None:
    assert clean_header(value, limit) == clean_header(value, limit) == _clean(value, limit)


def test_long_none_and_empty_values() -> None:
    long = "Subject \u202e words\r\n " * 200  # over the cached size: cleaned each time
    assert clean_header(long) == _clean(long, 900) and len(clean_header(long)) == 900
    assert clean_header(None) == clean_header("") == ""
    assert clean_header(" a\r\nb\u2028c\u202ed ", 200) == "a b cd"
