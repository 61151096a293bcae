"""Writes over HTTP, through the same ticket code as mail (SPEC 14). Blocking: called on
the HTTP thread pool, one database transaction each.

A ticket created here is a mail in all but transport: the JSON becomes an RFC 5322
message (From the customer, To the queue) that is parsed, classified and routed by the
pipeline's own functions, so it is stored like any other (raw bytes in the article store,
attachments by sha256) and gets the auto-response and the agents' notifications. The
caller's `queue` and `priority` win over the routing rules; a rule's `reject` and
`ignore` are for mail and do not apply to an authenticated application.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import replace
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from maildesk.classify import classify
from maildesk.commands import LineResult
from maildesk.core.actors import Actor
from maildesk.core.commands import BlockResult, run_block
from maildesk.core.operations import Incoming, Refused, add_text, open_ticket
from maildesk.core.queries import is_known_customer
from maildesk.core.tickets import record
from maildesk.customers.lookup import ask_directories
from maildesk.http.api.models import ArticleIn, AttachmentIn, TicketIn
from maildesk.http.api.reads import check_etag, locked_ticket
from maildesk.http.errors import ApiError
from maildesk.http.tokens import Caller
from maildesk.intake.message import Envelope
from maildesk.intake.parse import parse_message
from maildesk.marks import tag_pattern
from maildesk.routing import route
from maildesk.store.articles import sha256

if TYPE_CHECKING:
    from maildesk.runtime import Runtime

__all__ = ["add_article_http", "create_ticket_http", "run_commands_http"]


def create_ticket_http(rt: Runtime, caller: Caller, data: TicketIn) -> str:
    config = rt.config
    queue = config.queue(data.queue) if data.queue else None
    if data.queue and queue is None:
        known = ", ".join(q.name for q in config.queues)
        raise ApiError(422, f"queue: unknown queue {data.queue!r} (queues: {known})")
    if queue is None and len(caller.queues) == 1:
        queue = config.queue(caller.queues[0])
    if queue is not None and not caller.sees(queue.name):
        raise ApiError(403, f"token {caller.name!r} may not use queue {queue.name}")
    files = _decoded(data.attachments)
    to = queue.address if queue is not None else config.queues[0].address
    subject = tag_pattern(config.instance.ticket_hook).sub(" ", data.subject)
    subject = "".join(c if c.isprintable() else " " for c in subject)
    try:
        raw = _as_mail(config.instance.domain, data, subject, to, files)
    except (ValueError, TypeError) as exc:  # what the email package refuses to write
        raise ApiError(422, f"cannot make a mail of this ticket: {exc}") from None
    mail = parse_message(raw, config.limits)
    envelope = Envelope(sender=data.customer.lower(), recipients=(to,),
                        peer=f"http:{caller.name}")
    classification = classify(mail, envelope, config)
    if classification.kind != "mail":  # e.g. a customer address of a robot or our own
        classification = replace(classification, kind="mail")

    # the customer in a directory (SQL, LDAP): asked before the transaction, as for mail
    directory = ask_directories(config, data.customer.lower())
    incoming = Incoming(raw, mail, envelope, classification, sha256(raw), directory=directory)

    def attempt(session: Session) -> str:
        known = is_known_customer(session, data.customer.lower(), directory)
        decision = route(config, mail, envelope, known_customer=known, followup=False)
        decision = replace(decision, reject=None, ignore=False,
                           queue=queue.name if queue is not None else decision.queue,
                           priority=data.priority or decision.priority)
        if not caller.sees(decision.queue):
            raise ApiError(403, f"the rules route this ticket to queue {decision.queue}, "
                                f"outside token {caller.name!r}'s queues; give `queue`")
        ticket, event = open_ticket(session, rt, incoming, decision)
        record(session, ticket, "created over HTTP", caller.actor)
        from maildesk.outbound.dispatch import dispatch

        dispatch(session, config, rt.secret, [event])
        return ticket.number

    return rt.db.run(attempt)


def _decoded(attachments: list[AttachmentIn]) -> list[tuple[AttachmentIn, bytes]]:
    files: list[tuple[AttachmentIn, bytes]] = []
    for i, att in enumerate(attachments):
        try:
            files.append((att, base64.b64decode(att.content_base64, validate=True)))
        except (binascii.Error, ValueError):
            raise ApiError(422, f"attachments.{i}.content_base64: not base64") from None
    return files


def _as_mail(domain: str, data: TicketIn, subject: str, to: str,
             files: list[tuple[AttachmentIn, bytes]]) -> bytes:
    msg = EmailMessage()
    msg["From"] = data.customer
    msg["To"] = to
    # (A ticket tag in the subject would thread into that ticket: the caller removed it.)
    msg["Subject"] = " ".join(subject.split()) or "(no subject)"
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = f"<api-{secrets.token_hex(12)}@{domain}>"
    msg.set_content(data.body or "\n", cte="quoted-printable")
    for att, content in files:
        maintype, _, subtype = att.content_type.lower().partition("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=att.filename)
    return msg.as_bytes(policy=policy.SMTP)  # RFC 2231 names, CRLF lines


def add_article_http(rt: Runtime, caller: Caller, number: str, data: ArticleIn,
                     if_match: str | None) -> int:
    """An answer or a note through the core, with this token as the actor; a public
    article's files go to the customer with the answer (413 when too big to mail)."""
    files = [(att.filename, att.content_type, content)
             for att, content in _decoded(data.attachments)]
    if files and data.visibility == "public":
        from maildesk.outbound.answer_files import size_refusal

        too_big = size_refusal(rt.config, data.body, [len(f[2]) for f in files])
        if too_big:
            raise ApiError(413, f"nothing added: {too_big}")

    def attempt(session: Session) -> int:
        ticket = locked_ticket(session, caller, number)
        check_etag(session, ticket, if_match)
        from maildesk.outbound.render import InvalidAddress

        try:
            article = add_text(session, rt, Actor.token(caller), ticket, data.body,
                               internal=data.visibility != "public", files=files)
        except InvalidAddress as exc:  # a ticket from a mail with an odd From
            raise ApiError(422, f"cannot mail the customer of ticket {number}: {exc}; "
                                "add an internal note instead") from None
        except Refused as exc:
            raise ApiError(403, f"nothing added: {exc}") from None
        return article.id

    return rt.db.run(attempt)


def run_commands_http(rt: Runtime, caller: Caller, number: str, lines: list[str],
                      if_match: str | None) -> tuple[bool, list[LineResult]]:
    """The core's command engine with this token as the actor (every permission in its
    queues with the write scope, none outside them): all or none, every line reported."""

    def attempt(session: Session) -> BlockResult:
        ticket = locked_ticket(session, caller, number)
        check_etag(session, ticket, if_match)
        return run_block(session, rt, Actor.token(caller), ticket, lines)

    block = rt.db.run(attempt)
    return block.applied, block.lines
