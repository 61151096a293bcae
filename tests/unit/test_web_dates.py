"""The web's date formatting (http/web/lang.py) puts Babel's short pattern together from a
cached date and time: it must say exactly what Babel says, in every language and zone."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from maildesk.http.web.lang import LANGUAGES, babel_format_datetime, format_datetime


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("tz", [None, "Europe/Berlin", "America/New_York", "Asia/Kolkata",
                                "not/a zone"])
def test_same_as_babel(lang: str, tz: str | None) -> None:
    rng = random.Random(16)
    start = datetime(2026, 1, 1)
    for _ in range(200):  # across both DST changes of a year, and every hour
        value = start + timedelta(seconds=rng.randrange(0, 400 * 86400))
        assert format_datetime(value, lang, tz) == babel_format_datetime(value, lang, tz)
    assert format_datetime(None, lang, tz) == ""
