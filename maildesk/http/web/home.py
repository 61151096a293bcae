"""`/`: an agent's queue overview, a customer's own tickets."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from maildesk.core import customer_tickets, ticket_list
from maildesk.http.web.render import page
from maildesk.http.web.viewer import PersonViewer
from maildesk.i18n import N_

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(seen: PersonViewer) -> Response:
    ctx = seen.ctx
    agent = seen.agent
    if agent is not None:
        overview = await ctx.run(ticket_list.overview, ctx.rt, agent)
        return page(seen, "overview.html", page_title=N_("Overview"), overview=overview)
    listing = await ctx.run(customer_tickets.own_tickets, ctx.rt, seen.address, 1)
    return page(seen, "customer_home.html", page_title=N_("My tickets"), listing=listing)
