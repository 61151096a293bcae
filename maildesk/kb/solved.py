"""A customer closing their own ticket: `/solved`, or a word like "solved", "resuelto",
"gelöst" alone on the first line of the new text of a reply (SPEC 18).

Only the first line of what the customer wrote counts: text further down, a quote of an
earlier mail (our auto-response says "reply with solved") and the signature are not read.
Only a participant may close: the ticket's customer, its cc, or someone the customer wrote
along with (maildesk.core.threads.is_participant); a stranger who has the ticket's tag or a
reply to one of our mails gets an ordinary follow-up. The ticket becomes
`closed successful`, history `solved by customer`; a ticket closed already stays closed.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable
from itertools import filterfalse
from typing import TYPE_CHECKING

from sqlalchemy import select

from maildesk.agents.quotes import reply_text
from maildesk.core.threads import is_participant
from maildesk.core.tickets import add_article, record, set_state
from maildesk.kb.suggest import OFFERED
from maildesk.store.models import History

if TYPE_CHECKING:
    from maildesk.core.context import Context
    from maildesk.store.models import Ticket

__all__ = ["SOLVED", "SOLVED_WORDS", "is_solved_line", "solved_by_customer"]

SOLVED = "solved by customer"  # the history event
SOLVED_STATE = "closed successful"
# Lowercase, accents kept (a folded copy is compared too: "geloest", "resolvio").
SOLVED_WORDS = frozenset({
    "solved", "resolved", "fixed",  # en
    "resuelto", "resuelta", "solucionado", "solucionada",  # es
    "gelöst", "erledigt",  # de
    "résolu", "résolue",  # fr
    "risolto", "risolta",  # it
    "resolvido", "resolvida",  # pt
    "opgelost",  # nl
    "löst", "løst",  # sv, da/no
})
_FOLDED = {unicodedata.normalize("NFKD", w).encode("ascii", "ignore").decode()
           for w in SOLVED_WORDS} | {"geloest", "loest"}
# What is trimmed around the word: white space (re's \s, str.isspace: tested), quotes,
# emphasis, brackets, and after it punctuation and a few emoji. lstrip and rstrip, not a
# regex: `[...]+$` is tried at every offset, quadratic on a long line of dots (12 s for
# 40,000 of them in a mail's body).
_SPACES = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
           "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_TRIM_BEFORE = _SPACES + "\"'*_(["
_TRIM_AFTER = _SPACES + "\"'*_)].!¡¿?,;:…👍✅🙂😊"


def is_solved_line(line: str) -> bool:
    """`/solved` or one of the words, alone but for punctuation around it."""
    text = unicodedata.normalize("NFKC", line).strip().lower()
    text = text.lstrip(_TRIM_BEFORE).rstrip(_TRIM_AFTER)
    if text == "/solved":
        return True
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return text in SOLVED_WORDS or (text.isascii() and folded in _FOLDED)


# A letter or digit, white space, a letter or digit, in a line (no LF): no trimming leaves
# one word of that. Matched at the line's start: its first letter or digit, the first white
# space after it, then any letter or digit further on (lazy: found at the second word). The
# possessive runs never backtrack: a search for `[^\W_].*?\s.*?[^\W_]` tried every letter
# again, quadratic on a long line without spaces (5 s for 20,000 letters).
_TWO_WORDS = re.compile(r"[\W_]*+[^\W_]\S*+\s.*?[^\W_]")


# The lines of an ASCII text (lines end at LF only) that could be solved lines: white space
# and the trimmed punctuation around one run without white space. A solved ASCII line is
# that (NFKC and lower() change no ASCII line's white space; the words hold none), so the
# others need no look. A literal LF first: re finds each line start at C speed, and the
# possessive runs give up at a line's first space between two words, never backtracking.
_MAYBE_ONE_WORD = re.compile(
    r"\n([\t\x1f \"'*_(\[]*+[^\t\x1f \n]++[\t\x1f \"'*_)\].!?,;:]*+)(?=\n|\Z)")
_OTHER_LINE_ENDS = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e")  # splitlines' in ASCII


def _candidate_lines(body: str) -> Iterable[str]:
    """The lines of `body` that `is_solved_line` may accept, and perhaps others: all of
    them (splitlines) but for an ASCII body whose lines end at LF, the usual mail, where
    `_MAYBE_ONE_WORD` picks them (0.6 -> 0.08 ms for 100 KB of quoted text)."""
    if not body.isascii() or any(end in body for end in _OTHER_LINE_ENDS):
        return body.splitlines()
    end = body.find("\n")
    first = body if end < 0 else body[:end]
    return itertools.chain((first,), _MAYBE_ONE_WORD.findall(body))


def _first_line(body: str) -> str:
    # reply_text classifies every line against some twenty patterns, about 2 ms per kB of
    # quoted text (2 s for a 100 KB reply): run it only when some line could be the word.
    # (filterfalse and map: the lines go by without a Python frame each, 1,100 in 100 KB.)
    lines = _candidate_lines(body or "")
    if not any(map(is_solved_line, filterfalse(_TWO_WORDS.match, lines))):
        return ""
    for line in reply_text(body or "").splitlines():
        if line.strip():
            return line
    return ""


def solved_by_customer(ctx: Context, ticket: Ticket) -> bool:
    """Store the mail and close the ticket when it says solved and its sender may; False
    (nothing done) otherwise, for the ordinary follow-up path."""
    mail, session, config = ctx.mail, ctx.session, ctx.rt.config
    if ctx.classification.kind != "mail" or mail.body_from_html and not mail.body:
        return False
    if not is_solved_line(_first_line(mail.body)):
        return False
    sender = (mail.from_addr or ctx.envelope.sender or "").lower()
    if config.agent(sender) is not None or not is_participant(session, config, ticket, sender):
        return False
    add_article(session, ctx.rt.store, ticket, mail=mail, raw=ctx.raw, envelope=ctx.envelope,
                raw_sha256=ctx.digest, content_sha256=ctx.content_key)
    if ticket.is_closed:
        return True
    after = session.execute(select(History.id).where(
        History.ticket_id == ticket.id, History.event == OFFERED).limit(1)).first() is not None
    set_state(session, ticket, SOLVED_STATE, sender, reason=SOLVED)
    record(session, ticket, SOLVED, sender, after_suggestion=after)
    return True
