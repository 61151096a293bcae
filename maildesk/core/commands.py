"""The command engine every entrance uses: `run_block` runs a command block for an actor.

The mail path (an agent's `/` lines above the answer), the HTTP API (`POST
/tickets/{n}/commands`), the web forms and anything later call this one function, so a
command means the same, needs the same permission and respects the same lock whichever way
it came. The result is per line; the mail transcript (`events.CommandsProcessed`) and the
API's JSON are two renderings of it.

Stable entry (the web builds on it)::

    run_block(session, rt, actor, ticket, lines, *, text="", article=None,
              dispatch=True, refuse=None, files=()) -> BlockResult

- `session`: the caller's transaction (`Database.run`); the block runs in a SAVEPOINT
  inside it, so it applies all or none while the caller's own writes (the stored mail,
  a refusal in history) commit either way. The caller commits.
- `rt`: what the block uses of the runtime: `config`, `secret` (to sign answers) and
  `store` (for a text article); a `maildesk.runtime.Runtime` or the `App`.
- `actor`: who acts (`maildesk.core.actors.Actor`); permissions are checked per line in
  the ticket's queue (and the target queue for `/move`, `/merge`); a customer may act only
  on their own ticket.
- `ticket`: the ticket, row-locked here (a second writer waits, then sees this one).
- `lines`: the command lines, each starting with `/` (`split_commands` cuts them from a
  mail body); at most `MAX_COMMANDS`.
- `text`: the answer (or, after `/note`, the internal note; from a customer, their
  message) as one more step: it needs `reply` (or `note`) and is sent or kept only when
  every line succeeded. `article`: the article already holding that text (the mail path
  stores the mail first); without it the engine adds one.
- `files`: (name, content type, bytes) to attach to the article the engine adds for the
  text (the web form, the API); names are cleaned as intake cleans them. An answer mails
  the customer its article's attachments (the mail's own, or these), and fails its step
  when they would make a mail over `listen.max_message_size` (outbound/answer_files.py).
- `dispatch`: queue the mails the block's events call for now (default); `False` leaves
  that to the caller (the mail pipeline dispatches all of one mail's events together).
- `refuse`: a reason to refuse every line and the text without running anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk.commands import LineResult, run_commands
from maildesk.commands.base import Work
from maildesk.config import Config
from maildesk.core.actors import Actor
from maildesk.core.tickets import add_article, set_state
from maildesk.events import AnswerQueued, TicketEvent
from maildesk.intake.message import Attachment, ParsedMail
from maildesk.store.articles import ArticleStore
from maildesk.store.db import drop_deferred, write_deferred
from maildesk.store.models import Article, AttachmentRow, Ticket

__all__ = ["BlockResult", "Deps", "LineResult", "TEXT_LINE", "run_block"]

TEXT_LINE = "(your text)"  # how results name the text step
Upload = tuple[str, str, bytes]  # a file for the text's article: name, content type, bytes


class Deps(Protocol):
    """What `run_block` uses of the runtime."""

    @property
    def config(self) -> Config: ...
    @property
    def secret(self) -> bytes: ...
    @property
    def store(self) -> ArticleStore: ...


@dataclass
class BlockResult:
    """What a command block did: one result per line, then the text step (if any text).

    `applied` is true when everything applied; false means nothing did (the SAVEPOINT
    rolled back). `events` are the ticket events the block made (dispatched already unless
    `dispatch=False`); `ticket` is where the text went (the merge target after `/merge`)."""

    applied: bool
    lines: list[LineResult]
    text: LineResult | None
    ticket: Ticket
    note: bool = False
    article: Article | None = None
    events: list[TicketEvent] = field(default_factory=list)

    @property
    def failed(self) -> list[LineResult]:
        steps = self.lines + ([self.text] if self.text is not None else [])
        return [r for r in steps if not r.ok]


def run_block(session: Session, rt: Deps, actor: Actor, ticket: Ticket,
              lines: Sequence[str], *, text: str = "", article: Article | None = None,
              dispatch: bool = True, refuse: str | None = None,
              files: Sequence[Upload] = ()) -> BlockResult:
    """Run `lines` (then `text`) for `actor` on `ticket`, all or none; see the module."""
    session.flush()  # keep the caller's pending changes through the lock's re-read
    session.refresh(ticket, with_for_update=True)
    lines = [line.strip() for line in lines]
    work = Work(rt.config, session, ticket, actor)
    if refuse is None and actor.kind == "customer" and ticket.customer.lower() != actor.address:
        refuse = f"ticket {ticket.number} is not yours"
    if refuse is not None:
        results = [LineResult(line, False, refuse) for line in lines]
        step = LineResult(TEXT_LINE, False, refuse) if text else None
        return BlockResult(False, results, step, ticket, article=article)

    write_deferred(session)  # the caller's rows so far: not this all-or-none block's
    savepoint = session.begin_nested()
    try:
        results = run_commands(work, lines)
        if work.inserts:  # /faq NAME: the entries' texts below the agent's own
            from maildesk.commands.faq import with_inserts

            text = with_inserts(text, work.inserts)
        sizes: list[int] = []  # an answer's files, which must fit in one mail
        if text and actor.kind != "customer":
            sizes = [len(f[2]) for f in files] if article is None else \
                [a.size for a in _attachments(session, article)]
        step = _text_check(work, text, sizes)
        applied = all(r.ok for r in results) and (step is None or step.ok)
        if applied and text:
            article = _apply_text(work, rt, text, article, files)
        if applied:
            savepoint.commit()
        else:
            drop_deferred(session)  # history of lines that did not apply, not yet written
            savepoint.rollback()
    except BaseException:
        drop_deferred(session)
        if savepoint.is_active:
            savepoint.rollback()
        raise
    result = BlockResult(applied, results, step, work.merged_into or ticket, work.note,
                         article, work.events if applied else [])
    if applied and dispatch and result.events:
        from maildesk.outbound.dispatch import dispatch as queue_mails

        queue_mails(session, rt.config, rt.secret, result.events)
    return result


def _text_check(work: Work, text: str, sizes: Sequence[int] = ()) -> LineResult | None:
    """The text as one more step: it needs `reply` (or `note` after /note) in the queue,
    and an answer's files (`sizes`) must fit in one mail."""
    if not text:
        return None
    queue = (work.merged_into or work.ticket).queue
    needed = "note" if work.note else "reply"
    if work.actor.kind == "customer":
        what = "message"
    else:
        what = "internal note" if work.note else "answer to the customer"
    if needed not in work.permissions(queue):
        return LineResult(TEXT_LINE, False,
                          f"you do not have the '{needed}' permission in queue {queue}")
    if sizes and not work.note and work.actor.kind != "customer":
        from maildesk.outbound.answer_files import size_refusal

        too_big = size_refusal(work.config, text, sizes)
        if too_big:
            return LineResult(TEXT_LINE, False, f"not sent: {too_big}")
    return LineResult(TEXT_LINE, True, f"kept as an {what}" if work.note
                      else f"sent as the {what}" if work.actor.kind != "customer"
                      else f"added as your {what}")


def _apply_text(work: Work, rt: Deps, text: str, article: Article | None,
                files: Sequence[Upload] = ()) -> Article:
    """Answer (mailed to the customer with its article's files), note (internal), or a
    customer's message."""
    actor, session = work.actor, work.session
    target = work.merged_into or work.ticket
    if actor.kind == "customer":
        article = article or _text_article(work, rt, target, text, "customer", "public",
                                           "mail", files)
        if target.state.startswith("pending") or target.is_closed:
            set_state(session, target, "open", actor.label, via=actor.via,
                      reason="customer follow-up")
        work.events.append(TicketEvent(kind="followup", ticket=target, article=article,
                                       autoresponse=False, actor=actor.label))
        return article
    if work.note:
        article = article or _text_article(work, rt, target, text, "agent", "internal", "note",
                                           files)
        work.record("note", article=article.id)
        return article
    given = article is not None
    article = article or _text_article(work, rt, target, text, "agent", "public", "answer",
                                       files)
    from maildesk.outbound.dispatch import dispatch

    # The article's files as stored (the batch's pending files too: `rt.store`), byte for
    # byte what the customer can download on the web.
    attached = [(a.filename, a.content_type, rt.store.get(session, a.sha256))
                for a in _attachments(session, article)] if given or files else []
    # Not guarded: an answer that cannot be queued fails the block (the caller sees why).
    dispatch(session, rt.config, rt.secret,
             [AnswerQueued(target, text, actor.label, files=attached)])
    article.visibility = "public"
    return article


def _attachments(session: Session, article: Article) -> list[AttachmentRow]:
    """The article's attachment rows, in their order (read, not the relationship: the
    ingest may have written them with Core INSERTs)."""
    session.flush()
    return list(session.scalars(select(AttachmentRow).where(AttachmentRow.article_id == article.id)
                                .order_by(AttachmentRow.id)))


def _text_article(work: Work, rt: Deps, ticket: Ticket, text: str, sender_type: str,
                  visibility: str, kind: str, files: Sequence[Upload] = ()) -> Article:
    import hashlib

    from maildesk.intake.filenames import safe_filename

    person = work.actor.kind in ("agent", "customer")  # an address, not `api:...`
    attachments = [Attachment(filename=safe_filename(name, f"attachment-{n}"),
                              content_type=content_type, data=data, size=len(data),
                              sha256=hashlib.sha256(data).hexdigest())
                   for n, (name, content_type, data) in enumerate(files, 1)]
    mail = ParsedMail(subject=ticket.title, from_addr=work.actor.address if person else None,
                      from_name=work.actor.name or work.actor.label, body=text,
                      attachments=attachments)
    return add_article(work.session, rt.store, ticket, mail=mail, raw=None, envelope=None,
                       sender_type=sender_type, visibility=visibility, kind=kind,
                       actor=work.actor.label)
