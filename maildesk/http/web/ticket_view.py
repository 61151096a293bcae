"""One ticket as a page shows it: the core reads the rows (`maildesk.core.ticket_page`);
the web adds what is its own, how a history event's details read and whether a stored
mail has an HTML part the page can show (blocking; on the HTTP thread pool).

Anyone who may not read the ticket gets None, as for a ticket that does not exist: the
page is a 404 either way, so ticket numbers cannot be probed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from maildesk.core import ticket_page
from maildesk.core.ticket_page import Reader, TicketView, attachment, raw_of
from maildesk.http.web.history_words import details

if TYPE_CHECKING:
    from maildesk.runtime import Runtime

__all__ = ["Reader", "TicketView", "attachment", "load", "raw_of"]

# No such header line, no HTML part: most mails are decided without parsing them.
HTML_TYPE = re.compile(rb"(?im)^content-type:[ \t]*(?:\r?\n[ \t]+)?text/html")


def _has_html(raw: bytes) -> bool:
    from maildesk.http.web.html_mail import html_part

    return HTML_TYPE.search(raw) is not None and html_part(raw) is not None


def load(rt: Runtime, reader: Reader, number: str) -> TicketView | None:
    """The ticket's page, if the reader may see it."""
    return ticket_page.load(rt, reader, number, details, _has_html)
