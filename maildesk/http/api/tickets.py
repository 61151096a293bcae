"""`/api/v1/tickets...` (SPEC 14): thin handlers; the work is in `reads` and `writes`, run
on the HTTP thread pool.

A read answers its JSON encoded on the worker thread, in the hop that checked the token
and read the database (`auth.run_as`): the event loop only sends bytes. The bytes are
those `JSONResponse` makes, and `response_model` still declares the shape in the OpenAPI
document (issue 15: the loop is shared with SMTP, and a ticket of 50 articles is 80 KB)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, cast
from urllib.parse import quote

from fastapi import APIRouter, Header, Path, Query
from starlette.responses import JSONResponse, Response

from maildesk.http.api import reads, writes
from maildesk.http.api.models import (
    SHA256,
    ArticleIn,
    CommandResult,
    CommandsIn,
    CommandsOut,
    TicketIn,
    TicketPage,
)
from maildesk.http.auth import Bearer, WriteCaller, run_as
from maildesk.http.context import Ctx
from maildesk.http.errors import error_responses, json_bytes
from maildesk.http.tokens import Caller

if TYPE_CHECKING:
    from maildesk.runtime import Runtime

__all__ = ["router"]

router = APIRouter(tags=["tickets"],
                   responses=error_responses(401, 403, 404, 422, 429, 500, 503))

Number = Annotated[str, Path(pattern=r"^[A-Za-z0-9\-]{1,32}$", description="ticket number")]
IfMatch = Annotated[str | None, Header(description="the ETag you read: 409 if the ticket "
                                                   "changed since", max_length=200)]
_WRITE = error_responses(409, 413)


def _ticket_response(data: dict[str, Any], tag: str, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status, headers={"ETag": tag})


@router.get("/tickets", response_model=TicketPage)
async def list_tickets(
    ctx: Ctx, token: Bearer,
    queue: Annotated[str | None, Query(max_length=100)] = None,
    state: Annotated[str | None, Query(max_length=32)] = None,
    customer: Annotated[str | None, Query(max_length=191)] = None,
    q: Annotated[str | None, Query(max_length=500, description="full text: every word")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$",
                                        description="next_cursor of the page before")] = None,
) -> Response:
    """Tickets in the token's queues, oldest first; `next_cursor` pages on."""
    body = await run_as(ctx, token, _page_json, ctx.rt, queue=queue, state=state,
                        customer=customer, q=q, limit=limit, cursor=cursor)
    return Response(body, media_type="application/json")


def _page_json(caller: Caller, rt: Runtime, **filters: Any) -> bytes:
    rows, next_cursor = reads.list_tickets(rt, caller, **filters)
    return json_bytes({"tickets": rows, "next_cursor": next_cursor})  # TicketPage's shape


@router.get("/tickets/{number}", response_model=dict[str, Any])
async def get_ticket(ctx: Ctx, token: Bearer, number: Number) -> Response:
    """The ticket as `maildesk show --json` prints it, with its ETag."""
    body, tag = await run_as(ctx, token, _ticket_json, ctx.rt, number)
    return Response(body, media_type="application/json", headers={"ETag": tag})


def _ticket_json(caller: Caller, rt: Runtime, number: str) -> tuple[bytes, str]:
    data, tag = reads.get_ticket(rt, caller, number)
    return json_bytes(data), tag


@router.post("/tickets", status_code=201, response_model=dict[str, Any],
             responses=error_responses(413))
async def create_ticket(ctx: Ctx, caller: WriteCaller, body: TicketIn) -> Response:
    """A new ticket, as if the customer had mailed the queue: routing rules, the
    auto-response and the agents' notifications as for mail."""
    number = await ctx.run(writes.create_ticket_http, ctx.rt, caller, body)
    data, tag = await ctx.run(reads.get_ticket, ctx.rt, caller, number)
    response = _ticket_response(data, tag, 201)
    response.headers["Location"] = f"/api/v1/tickets/{quote(number)}"
    return response


@router.post("/tickets/{number}/articles", status_code=201, response_model=dict[str, Any],
             responses=_WRITE)
async def add_article(ctx: Ctx, caller: WriteCaller, number: Number, body: ArticleIn,
                      if_match: IfMatch = None) -> Response:
    """`public`: an answer mailed to the customer (From the queue); `internal`: a note."""
    article_id = await ctx.run(writes.add_article_http, ctx.rt, caller, number, body,
                               if_match)
    data, tag = await ctx.run(reads.get_ticket, ctx.rt, caller, number)
    articles = cast(list[dict[str, Any]], data["articles"])
    article = next(a for a in articles if a["id"] == article_id)
    return JSONResponse(article, status_code=201, headers={"ETag": tag})


@router.post("/tickets/{number}/commands", response_model=CommandsOut, responses=_WRITE)
async def run_commands(ctx: Ctx, caller: WriteCaller, number: Number, body: CommandsIn,
                       if_match: IfMatch = None) -> Response:
    """The mail command engine (`/close`, `/move Q`, ...) with this token as the actor:
    all lines apply or none (422 with every line's result)."""
    applied, results = await ctx.run(writes.run_commands_http, ctx.rt, caller, number,
                                     body.commands, if_match)
    data, tag = await ctx.run(reads.get_ticket, ctx.rt, caller, number)
    out = CommandsOut(applied=applied, ticket=data, results=[
        CommandResult(line=r.line, ok=r.ok, message=r.text) for r in results])
    if not applied:
        failed = "; ".join(f"{r.line}: {r.text}" for r in results if not r.ok)
        return JSONResponse({"error": {"code": "commands_failed",
                                       "message": f"nothing applied: {failed}"[:2000],
                                       "results": [r.model_dump() for r in out.results]}},
                            status_code=422, headers={"ETag": tag})
    return JSONResponse(out.model_dump(), headers={"ETag": tag})


@router.get("/tickets/{number}/attachments/{sha256}",
            responses={200: {"content": {"application/octet-stream": {}},
                             "description": "the file's bytes as received"}})
async def get_attachment(ctx: Ctx, token: Bearer, number: Number,
                         sha256: Annotated[str, Path(pattern=SHA256)]) -> Response:
    """The bytes exactly as they arrived; always a download, never rendered."""
    data, filename, content_type = await run_as(ctx, token, _attachment, ctx.rt, number,
                                                sha256)
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_")
    disposition = (f"attachment; filename=\"{ascii_name}\"; "
                   f"filename*=UTF-8''{quote(filename, safe='')}")
    return Response(data, media_type=content_type or "application/octet-stream", headers={
        "Content-Disposition": disposition, "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox", "ETag": f'"{sha256}"'})


def _attachment(caller: Caller, rt: Runtime, number: str,
                digest: str) -> tuple[bytes, str, str]:
    return reads.attachment(rt, caller, number, digest)
