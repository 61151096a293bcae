"""The agents' forms on a ticket page: an answer, a note, and every mail command, all
through `engine.run_block` (the mail command engine: same permissions, locks, all or
none). Success redirects back to the ticket (so a reload does not send twice); a refusal
shows the page again with every line's reason. An answer whose files would make a mail
over `listen.max_message_size` (they grow by a third in base64) is refused with 413 before
anything is stored: the customer gets the files in the mail or the agent knows why not."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from maildesk.commands import COMMANDS, LineResult
from maildesk.config import Agent
from maildesk.http.web import engine, ticket_view
from maildesk.http.web.tickets import MIME_TYPE, NOT_FOUND, Number, agent_page
from maildesk.http.web.viewer import AgentViewer, Seen, WebError
from maildesk.i18n import N_

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
log = logging.getLogger("maildesk.http.web")

MAX_TEXT = 100_000
MAX_FILES = 10


async def _form(seen: Seen, request: Request) -> tuple[dict[str, str], list[engine.Upload]]:
    """The form's fields and files (urlencoded or multipart; the request body as a whole
    is capped at `listen.max_message_size`, 413), after the CSRF check."""
    from starlette.datastructures import UploadFile

    form = await request.form(max_files=MAX_FILES, max_fields=20)
    try:
        fields = {k: v[:MAX_TEXT + 1] for k, v in form.items() if isinstance(v, str)}
        seen.check_csrf(fields.get("csrf"))
        files = [((v.filename or "attachment")[:255], _mime(v.content_type),
                  await v.read())
                 for v in form.getlist("files") if isinstance(v, UploadFile) and v.filename]
    finally:
        await form.close()
    return fields, files


@router.post("/tickets/{number}/act")
async def act(seen: AgentViewer, request: Request, number: Number) -> Response:
    fields, files = await _form(seen, request)
    agent = seen.agent
    assert agent is not None
    lines: list[str] = []
    text = ""
    note = False
    if fields.get("command"):  # one command's own form
        name = fields["command"].strip().lower()
        if name not in COMMANDS:
            raise WebError(422, N_("Unknown command."))
        argument = " ".join(fields.get("argument", "").split())[:400]
        lines = [f"/{name} {argument}".strip()]
    else:
        text = fields.get("text", "").replace("\r\n", "\n").strip()
        if len(text) > MAX_TEXT:
            raise WebError(413, N_("The text is too long."))
        lines = fields.get("commands", "").replace("\r\n", "\n").split("\n")
        faq = " ".join(fields.get("faq", "").split())[:200]
        if faq:  # a knowledge base entry chosen in the form: as the mail command does
            lines.append(f"/faq {faq}")
        if any(line.strip() and not line.strip().startswith("/") for line in lines):
            raise WebError(422, N_("Each command line starts with /."))
        note = fields.get("mode") == "note"
        if not text and not any(line.strip() for line in lines):
            raise WebError(422, N_("Write a text or a command."))
        if files and not text:
            raise WebError(422, N_("Write a text to go with the files."))
    ctx = seen.ctx
    if files and text and not note:
        from maildesk.core.commands import TEXT_LINE
        from maildesk.outbound.answer_files import size_refusal

        too_big = size_refusal(ctx.rt.config, text, [len(f[2]) for f in files])
        if too_big:
            return await _refused(seen, agent, number, 413,
                                  [LineResult(TEXT_LINE, False, f"not sent: {too_big}")])
    from maildesk.outbound.render import InvalidAddress

    try:
        result = await ctx.run(engine.run_block, ctx.rt, agent, number, lines, text, note,
                               files)
    except engine.NotVisible:
        raise WebError(404, NOT_FOUND) from None
    except InvalidAddress as exc:
        log.info("web answer to %s not sent: %s", number, exc)
        raise WebError(422, N_("The customer's address cannot be mailed; keep the text as "
                               "an internal note instead.")) from None
    if result.applied:
        return RedirectResponse(f"/tickets/{number}?done=1", status_code=303)
    return await _refused(seen, agent, number, 422, [r for r in result.results if not r.ok])


async def _refused(seen: Seen, agent: Agent, number: str, status: int,
                   errors: list[LineResult]) -> Response:
    """The ticket page again, with why nothing was done."""
    ctx = seen.ctx
    view = await ctx.run(ticket_view.load, ctx.rt, ticket_view.Reader(agent=agent), number)
    if view is None:  # moved out of the agent's queues meanwhile
        raise WebError(404, NOT_FOUND)
    return await agent_page(seen, view, status=status, errors=errors)


def _mime(value: str | None) -> str:
    return value if value and MIME_TYPE.fullmatch(value) else "application/octet-stream"
