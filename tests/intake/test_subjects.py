"""One reply-prefix table (issue 12, maildesk/marks.py): every client prefix goes."""

from __future__ import annotations

import pytest

from maildesk.marks import strip_reply_prefixes


@pytest.mark.parametrize("subject", [
    "Re: Printer", "RE: AW: Printer", "Antw: Printer", "RV: Printer", "R: Printer",
    "SV: VS: Printer", "Fwd: FW: Printer", "WG: Printer", "TR: Printer", "Enc: Printer",
    "回复: Printer", "答复：Printer", "回覆: Printer", "转发: Printer", "AW[2]: Printer",
    "  re :  Printer",
])
def test_prefixes_go(subject: str) -> None:
    assert strip_reply_prefixes(subject) == "Printer"


def test_words_that_start_like_a_prefix_stay() -> None:
    assert strip_reply_prefixes("Rechnung: fehlt") == "Rechnung: fehlt"
    assert strip_reply_prefixes("Real issue") == "Real issue"

