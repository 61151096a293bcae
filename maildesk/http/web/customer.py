"""Customers' forms: a reply to their own ticket, a new ticket with attachments.

A reply is a mail from the customer to the ticket's queue, threaded by the ticket's tag,
handed to the same ingest as mail (follow-up rules, reopening, pending ends, the agents'
notifications); a new ticket goes the API's way (`create_ticket_http`: routing rules, the
auto-response, notifications). The customer's address is the session's, never a field.
"""

from __future__ import annotations

import base64
import logging
import secrets
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from maildesk.http.web import ticket_view
from maildesk.http.web.render import page
from maildesk.http.web.tickets import NOT_FOUND, Number
from maildesk.http.web.viewer import CustomerViewer, Seen, WebError
from maildesk.i18n import N_

if TYPE_CHECKING:
    from maildesk.app import App

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
log = logging.getLogger("maildesk.http.web")

MAX_FILES = 10
MAX_TEXT = 100_000


@dataclass(frozen=True)
class WebCaller:
    """The API's caller shape for a customer on the web: every queue (the routing rules
    decide), write; history names the customer."""

    address: str
    id: int = 0
    scope: str = "write"
    queues: tuple[str, ...] = ()
    last_used_at: None = None

    @property
    def name(self) -> str:
        return f"web:{self.address}"

    @property
    def actor(self) -> str:
        return self.address

    def may_write(self) -> bool:
        return True

    def sees(self, queue: str) -> bool:
        return True


Upload = tuple[str, str, bytes]  # file name, content type, bytes


async def _fields(seen: Seen, request: Request) -> tuple[dict[str, str], list[Upload]]:
    """The form's text fields and files (read, and the spooled copies closed), after the
    CSRF check."""
    form = await request.form(max_files=MAX_FILES, max_fields=20)
    try:
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        seen.check_csrf(fields.get("csrf"))
        files = [((v.filename or "attachment")[:255], _content_type(v.content_type),
                  await v.read())
                 for v in form.getlist("files") if isinstance(v, UploadFile) and v.filename]
    finally:
        await form.close()
    return fields, files


@router.get("/tickets/new")
async def new_form(seen: CustomerViewer) -> Response:
    return page(seen, "customer_new.html", page_title=N_("New ticket"), subject="",
                body="")


@router.post("/tickets/new")
async def new_ticket(seen: CustomerViewer, request: Request) -> Response:
    fields, files = await _fields(seen, request)
    subject = " ".join(fields.get("subject", "").split())[:500]
    body = fields.get("body", "").replace("\r\n", "\n").strip()
    if not subject or not body or len(body) > MAX_TEXT:
        return page(seen, "customer_new.html", status=422, page_title=N_("New ticket"),
                    subject=subject, body=body[:MAX_TEXT],
                    error=N_("Write a subject and a message."))
    from maildesk.http.api.models import AttachmentIn, TicketIn
    from maildesk.http.api.writes import create_ticket_http
    from maildesk.http.errors import ApiError

    attachments = []
    for filename, content_type, content in files:
        attachments.append(AttachmentIn(filename=filename, content_type=content_type,
                                        content_base64=base64.b64encode(content).decode()))
    try:
        ticket_in = TicketIn(customer=seen.address, subject=subject, body=body,
                             attachments=attachments)
    except ValueError:
        raise WebError(422, N_("The ticket could not be made from this form.")) from None
    ctx = seen.ctx
    try:
        number = await ctx.run(create_ticket_http, ctx.rt, WebCaller(seen.address),  # type: ignore[arg-type]
                               ticket_in)
    except ApiError as exc:
        raise WebError(exc.status if exc.status < 500 else 422, exc.message) from None
    return RedirectResponse(f"/tickets/{number}?done=1", status_code=303)


def _content_type(value: str | None) -> str:
    from maildesk.http.web.tickets import MIME_TYPE

    return value if value and MIME_TYPE.fullmatch(value) else "application/octet-stream"


@router.post("/tickets/{number}/reply")
async def reply(seen: CustomerViewer, request: Request, number: Number) -> Response:
    fields, files = await _fields(seen, request)
    body = fields.get("body", "").replace("\r\n", "\n").strip()
    if not body or len(body) > MAX_TEXT:
        raise WebError(422, N_("Write a message."))
    ctx = seen.ctx
    outcome = await ctx.run(_reply, ctx.app, seen.address, number, body, files)
    if outcome is None:
        raise WebError(404, NOT_FOUND)
    if outcome.result != "stored" or not outcome.ticket:
        log.info("web reply to %s by <%s> not stored: %s", number, seen.address, outcome.text)
        raise WebError(422, N_("Your message could not be added to this ticket. If it is "
                               "closed, open a new ticket."))
    return RedirectResponse(f"/tickets/{outcome.ticket}?done=1", status_code=303)


def _reply(app: App, address: str, number: str, body: str,
           uploads: list[Upload]):  # noqa: ANN202 (an Outcome)
    from maildesk.intake.message import Envelope
    from maildesk.marks import subject_tag

    rt = app.runtime  # once: one config for the whole reply
    reader = ticket_view.Reader(customer=address, own_only=True)  # a company admin reads
    # colleagues' tickets but answers only their own: a reply is a mail from them
    view = ticket_view.load(rt, reader, number)
    if view is None:
        return None
    ticket = view.ticket
    queue = rt.config.queue(ticket.queue) or rt.config.queues[0]
    msg = EmailMessage()
    msg["From"] = address
    msg["To"] = queue.address
    title = " ".join(ticket.title.split())
    msg["Subject"] = f"{subject_tag(rt.config.instance.ticket_hook, number)} {title}"
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = f"<web-{secrets.token_hex(12)}@{rt.config.instance.domain}>"
    msg.set_content(body + "\n", cte="quoted-printable")
    for filename, content_type, content in uploads:
        maintype, _, subtype = content_type.partition("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    raw = msg.as_bytes(policy=policy.SMTP)
    return app.ingest(raw, Envelope(sender=address, recipients=(queue.address,),
                                    peer="web"), spool_transient=False)
