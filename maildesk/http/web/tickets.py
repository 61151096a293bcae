"""`/tickets...`: the agents' ticket list, a ticket's page (agents and its customer), the
HTML frame of an article and attachments. Reading only; the forms are in `forms`."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from starlette.responses import RedirectResponse, Response

from maildesk.config.vocabulary import STATES
from maildesk.core.ticket_list import SORTS, Filters, readable_queues
from maildesk.core.ticket_list import ticket_list as list_tickets
from maildesk.http.web import ticket_view
from maildesk.http.web.html_mail import FRAME_CSP, html_part, sanitise
from maildesk.http.web.render import page
from maildesk.http.web.viewer import PersonViewer, Seen, WebError
from maildesk.i18n import N_

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

Number = Annotated[str, Path(pattern=r"^[A-Za-z0-9\-]{1,32}$")]
Digest = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]
Text = Annotated[str | None, Query(max_length=200)]
MIME_TYPE = re.compile(r"[A-Za-z0-9.+\-]{1,64}/[A-Za-z0-9.+\-]{1,128}")
NOT_FOUND = N_("There is no such ticket, or it is not yours to see.")


@router.get("/tickets")
async def ticket_list(seen: PersonViewer, queue: Text = None, state: Text = None,
                      q: Annotated[str | None, Query(max_length=500)] = None,
                      owner: Text = None, escalated: Text = None, sort: Text = "updated",
                      page_number: Annotated[int, Query(alias="page", ge=1, le=100000)] = 1
                      ) -> Response:
    agent = seen.agent
    if agent is None:  # customers: their list is the start page
        return RedirectResponse("/", status_code=303)
    ctx = seen.ctx
    filters = Filters(queue=queue or None, state=state or None, q=(q or "").strip() or None,
                      owner=owner or None, escalated=bool(escalated),
                      sort=sort if sort in SORTS else "updated", page=page_number)
    listing = await ctx.run(list_tickets, ctx.rt, agent, filters)
    queues = readable_queues(ctx.rt.config, agent)
    template = "_ticket_rows.html" if seen.request.headers.get("hx-request") else "tickets.html"
    return page(seen, template, page_title=N_("Tickets"), listing=listing, filters=filters,
                queues=queues, states=STATES, sorts=list(SORTS))


def _reader(seen: Seen) -> ticket_view.Reader:
    agent = seen.agent
    if agent is not None:
        return ticket_view.Reader(agent=agent)
    return ticket_view.Reader(customer=seen.address)


@router.get("/tickets/{number}")
async def ticket_page(seen: PersonViewer, number: Number) -> Response:
    ctx = seen.ctx
    view = await ctx.run(ticket_view.load, ctx.rt, _reader(seen), number)
    if view is None:
        raise WebError(404, NOT_FOUND)
    if seen.agent is not None:
        return await agent_page(seen, view, flash=seen.request.query_params.get("done"))
    return page(seen, "customer_ticket.html", title_text=view.ticket.title or number,
                view=view, flash=seen.request.query_params.get("done"))


async def agent_page(seen: Seen, view: ticket_view.TicketView, status: int = 200,
                     **extra: object) -> Response:
    """An agent's ticket page: the forms need the queues, the commands and the knowledge
    base entries for this ticket's queue, in its language first (`/faq NAME`, issue 19)."""
    from maildesk.commands import COMMANDS
    from maildesk.kb.library import entries_for

    ctx = seen.ctx
    config = ctx.rt.config
    ticket = view.ticket
    entries = await ctx.run(entries_for, config, ticket.queue, ticket.language)
    return page(seen, "ticket.html", status=status, title_text=ticket.title or ticket.number,
                view=view, queues=[q.name for q in config.queues], commands=COMMANDS,
                kb_entries=entries, **{"flash": None, "errors": [], **extra})


@router.get("/tickets/{number}/articles/{article_id}/html")
async def article_html(seen: PersonViewer, number: Number, article_id: int) -> Response:
    """The sanitised HTML of one article, for the sandboxed frame on the ticket page."""
    ctx = seen.ctx
    raw = await ctx.run(ticket_view.raw_of, ctx.rt, _reader(seen), number, article_id)
    if raw is None:
        raise WebError(404, NOT_FOUND)
    html = await ctx.run(html_part, raw)
    body = await ctx.run(sanitise, html) if html is not None else ""
    document = ("<!doctype html><html><head><meta charset=\"utf-8\"></head><body>"
                + body + "</body></html>")
    return Response(document, media_type="text/html; charset=utf-8", headers={
        "Content-Security-Policy": FRAME_CSP, "X-Frame-Options": "SAMEORIGIN",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})


@router.get("/tickets/{number}/attachments/{digest}")
async def attachment(seen: PersonViewer, number: Number, digest: Digest) -> Response:
    """Always a download, never shown inline: a file is what its sender says it is."""
    ctx = seen.ctx
    found = await ctx.run(ticket_view.attachment, ctx.rt, _reader(seen), number, digest)
    if found is None:
        raise WebError(404, NOT_FOUND)
    data, filename, content_type = found
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_"
                         for c in filename) or "attachment"
    disposition = (f"attachment; filename=\"{ascii_name}\"; "
                   f"filename*=UTF-8''{quote(filename, safe='')}")
    if not MIME_TYPE.fullmatch(content_type or ""):
        content_type = "application/octet-stream"
    return Response(data, media_type=content_type, headers={
        "Content-Disposition": disposition, "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store"})
