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

import re
import unicodedata
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
_TRIM = re.compile(r"^[\s\"'*_(\[]+|[\s\"'*_)\].!¡¿?,;:…👍✅🙂😊]+$")


def is_solved_line(line: str) -> bool:
    """`/solved` or one of the words, alone but for punctuation around it."""
    text = _TRIM.sub("", unicodedata.normalize("NFKC", line).strip().lower())
    if text == "/solved":
        return True
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return text in SOLVED_WORDS or (text.isascii() and folded in _FOLDED)


# A letter or digit, white space, a letter or digit: no trimming leaves one word of that.
# (Lazy: found at a line's first two words, not by a walk back from its end.)
_TWO_WORDS = re.compile(r"[^\W_].*?\s.*?[^\W_]")


def _first_line(body: str) -> str:
    # reply_text classifies every line against some twenty patterns, about 2 ms per kB of
    # quoted text (2 s for a 100 KB reply): run it only when some line could be the word.
    # (filterfalse and map: the lines go by without a Python frame each, 1,100 in 100 KB.)
    lines = (body or "").splitlines()
    if not any(map(is_solved_line, filterfalse(_TWO_WORDS.search, lines))):
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
