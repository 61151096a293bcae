"""An agent's mail to a ticket: authenticate, run the command block, send the answer.

`handle_agent_mail` is what the pipeline calls when a mail threads to a ticket and comes
from an agent's address (or through an agent's reply token). In one transaction, the
pipeline's:

1. the mail is stored as an agent article, internal until it proves to be an answer;
2. `auth.authenticate` decides whether the agent really sent it; if not, nothing is
   applied, the article stays internal and `verified=False`, history records
   `command refused` with the reason, and the real agent's configured address is told;
3. the command block runs inside a SAVEPOINT, followed by the answer (the text above the
   quote, `quotes.reply_text`) to the customer, or an internal note with `/note`; if any
   line fails the savepoint rolls back, so all of it applies or none does, while the
   article and the history of the refusal commit;
4. the agent gets a transcript, Debian control-server style, when the mail had commands or
   something failed.

What goes out (answer, transcript, refusal notice) is an event for `outbound.dispatch`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk.agents.auth import AuthResult, authenticate
from maildesk.agents.quotes import reply_text
from maildesk.commands import LineResult, split_commands
from maildesk.core.actors import Actor
from maildesk.core.commands import run_block
from maildesk.core.operations import add_mail_article
from maildesk.core.tickets import record
from maildesk.events import CommandsProcessed, MailRefused
from maildesk.outcome import Outcome, stored
from maildesk.reasons import N_, Reason
from maildesk.store.models import Article, History, MessageIdRow, Ticket, utcnow

if TYPE_CHECKING:
    from maildesk.core.context import Context
    from maildesk.core.threads import Thread

__all__ = ["AuthResult", "authenticate", "handle_agent_mail", "reply_text"]

NOTICE_INTERVAL = timedelta(minutes=10)  # refusal notices per ticket and agent, at most


def handle_agent_mail(ctx: Context, thread: Thread) -> Outcome:
    ticket = thread.ticket
    assert ticket is not None
    session, app, mail = ctx.session, ctx.rt, ctx.mail
    # Two agents' commands on one ticket serialise here: the row lock (PostgreSQL, MySQL;
    # SQLite's BEGIN IMMEDIATE already holds the database) makes the second wait and then
    # read what the first committed. Writers that skip it lose on the version column.
    session.refresh(ticket, with_for_update=True)

    if ctx.classification.kind != "mail":  # an agent's vacation notice: never an answer
        _store(ctx, ticket, kind=ctx.classification.kind, verified=False)
        return stored(ticket.number)

    auth = authenticate(ctx.raw, mail, ctx.envelope, app.config, app.secret, ticket)
    if auth.ok and _applied_before(session, mail.message_id):
        auth.agent = None  # a replay: the same signed mail again, maybe with other headers
        auth.reasons.append(Reason(N_("a mail with this Message-ID was applied already "
                                      "(a replay)")))
    if not auth.ok:
        return _refuse(ctx, ticket, thread, auth)
    agent = auth.agent
    assert agent is not None

    commands, rest = split_commands(mail.body)
    text = reply_text(rest)
    article = _store(ctx, ticket, verified=True, actor=agent.address,
                     body=text or "\n".join(commands))
    refuse = None
    if commands and mail.body_from_html:
        refuse = ("commands are read only from the plain-text part of a mail; send it as "
                  "plain text")
    block = run_block(session, app, Actor.agent(agent.address, agent.name), ticket, commands,
                      text=text, article=article, dispatch=False, refuse=refuse)
    failed = block.failed
    if failed:
        record(session, ticket, "command refused", agent.address,
               reason="; ".join(f"{r.line}: {r.text}" for r in failed)[:2000],
               article=article.id)
    else:
        ctx.events.extend(block.events)
    if commands or failed:
        _send_transcript(ctx, ticket, agent.address, block.lines, block.text, bool(failed))
    return stored(ticket.number)


def _store(ctx: Context, ticket: Ticket, *, verified: bool, kind: str = "mail",
           actor: str = "system", body: str | None = None) -> Article:
    from_agent = ctx.rt.config.agent(ctx.mail.from_addr or "") is not None
    return add_mail_article(ctx.session, ctx.rt, ticket, ctx.incoming(),
                            sender_type="agent" if from_agent else "customer",
                            visibility="internal", kind=kind, verified=verified, actor=actor,
                            body=body)


def _applied_before(session: Session, message_id: str | None) -> bool:
    """A command mail acts once per Message-ID, on whichever ticket it first reached: a
    captured signed mail sent again (new trace headers, another ticket) does nothing."""
    if not message_id:
        return False
    tickets = select(MessageIdRow.ticket_id).where(MessageIdRow.message_id == message_id[:191])
    return session.execute(
        select(Article.id).where(Article.ticket_id.in_(tickets),
                                 Article.message_id == message_id,
                                 Article.sender_type == "agent", Article.verified.is_(True))
        .limit(1)).first() is not None


def _refuse(ctx: Context, ticket: Ticket, thread: Thread, auth: AuthResult) -> Outcome:
    """Keep the mail for the record, apply nothing, send nothing to the customer, and tell
    the agent it claims to be (or whose token it carries) at their configured address."""
    session, config = ctx.session, ctx.rt.config
    commands, _ = split_commands(ctx.mail.body)
    article = _store(ctx, ticket, verified=False)
    actor = auth.claimed or "unknown"
    record(session, ticket, "command refused", actor, reason=auth.reason,
           article=article.id, commands=len(commands), envelope_sender=ctx.envelope.sender)
    agent = config.agent(auth.claimed or "") or config.agent(auth.token_agent or "")
    if agent is not None and not _recently_told(session, ticket, agent.address):
        from maildesk.outbound.dispatch import dispatch

        refused = MailRefused(ticket, agent.address, ctx.mail.subject or ticket.title,
                              ctx.mail.from_addr or "", ctx.envelope.sender or "", auth.reason,
                              tuple(auth.reasons))
        dispatch(session, config, ctx.rt.secret, [refused])
        record(session, ticket, "refusal notice", to=agent.address)
    return stored(ticket.number)


def _recently_told(session: object, ticket: Ticket, address: str) -> bool:
    """Forged mail must not become a way to flood an agent with notices."""
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    since = utcnow() - NOTICE_INTERVAL
    rows = session.execute(
        select(History.details_json).where(History.ticket_id == ticket.id,
                                           History.event == "refusal notice",
                                           History.at >= since)
    ).scalars()
    return any(f'"to":"{address}"' in row for row in rows)


def _send_transcript(ctx: Context, ticket: Ticket, to: str, results: list[LineResult],
                     answer: LineResult | None, failed: bool) -> None:
    from maildesk.outbound.dispatch import dispatch

    event = CommandsProcessed(ticket, to, ctx.mail.subject or ticket.title, results, answer,
                              failed, ctx.mail.message_id, tuple(ctx.mail.references))
    dispatch(ctx.session, ctx.rt.config, ctx.rt.secret, [event])
