"""kb.solved reads the first line of a reply's new text (agents.quotes.reply_text, some 2 s
for a 100 KB reply full of quoted lines) only when some line of the body could be a solved
word; the shortcut must never change the answer."""

from __future__ import annotations

import pytest

from maildesk.agents.quotes import reply_text
from maildesk.kb import solved

pytestmark = pytest.mark.unit

FIRST_LINES = ["solved", "Solved!!!!!!!!!!!!!!!!!!!!!!", "_ solved", "solved :)", "solved 👍",
               "\u00a0Gelöst.", "ｓｏｌｖｅｄ", "/solved", "re solved", "not solved", "solved it",
               "Resolvio", "resolvió", "e\u0301", "thanks, solved", "**fixed**", "1 fixed"]


@pytest.mark.parametrize("first", FIRST_LINES)
def test_the_shortcut_agrees_with_reading_the_reply(first: str) -> None:
    for body in (f"{first}\r\n\r\nCarol\r\n",
                 f"{first}\n\nOn Mon, 1 Dec 2026, Support wrote:\n> reply with solved\n",
                 f"> an earlier mail\n\n{first}\n", f"Hello\x0c{first}\n"):
        whole = next((x for x in reply_text(body).splitlines() if x.strip()), "")
        assert solved.is_solved_line(solved._first_line(body)) == \
            solved.is_solved_line(whole), repr(body)
