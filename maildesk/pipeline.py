"""The mail pipeline, top to bottom: parse, classify, thread, route, apply, respond.

`process` runs one mail through it in one database transaction: the raw bytes reach the
article store (fsynced) before the commit that points at them, and the outbox rows of the
responses are written by that same commit. It raises on database trouble; `App.ingest`
turns that into a spooled 250 or a 451.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maildesk.classify import Classification, classify
from maildesk.core import followups
from maildesk.core.context import Context
from maildesk.core.followups import already_stored
from maildesk.core.operations import open_ticket
from maildesk.core.queries import is_known_customer, ticket_queue
from maildesk.core.threads import Thread, find_ticket
from maildesk.customers.lookup import directories_answer
from maildesk.customers.record import CustomerRecord
from maildesk.customers.table import remembered
from maildesk.events import TicketEvent
from maildesk.intake.contentkey import content_key
from maildesk.intake.message import Envelope, ParsedMail
from maildesk.intake.parse import looks_like_mail, parse_message
from maildesk.outcome import Outcome, stored
from maildesk.routing import Route, route
from maildesk.runtime import RUNTIME_KEY
from maildesk.store.articles import sha256
from maildesk.store.db import deferred_inserts
from maildesk.store.models import Ticket

__all__ = ["Context", "MAX_HOPS", "Prepared", "prepare", "process"]

MAX_HOPS = 50  # Received headers; Postfix's hop_count_limit default
UNMATCHED_BOUNCE = "2.0.0 Ok: bounce kept"  # _bounce's word to `process`: spool it after

TYPE_CHECKING = False
if TYPE_CHECKING:
    from maildesk.runtime import Runtime


def process(rt: Runtime, raw: bytes, envelope: Envelope) -> Outcome:
    """One mail through the pipeline, on the runtime the caller captured for it."""
    prepared = prepare(rt, raw, envelope)
    if isinstance(prepared, Outcome):
        return prepared
    return process_prepared(prepared)


def process_prepared(prepared: Prepared) -> Outcome:
    """`process` of a mail already parsed and classified (on `prepared.rt`): its own
    transaction, run again on a conflict."""
    rt, envelope = prepared.rt, prepared.envelope
    try:
        # Another daemon changing the same ticket at once (stale version, deadlock): the
        # whole mail runs again on what the winner committed, so both mails land.
        outcome = rt.db.run(prepared.alone)
    except IntegrityError:
        # Two deliveries of the same mail raced; the other one's commit won.
        with rt.db.transaction() as session:
            duplicate = already_stored(session, prepared.digest, prepared.key, envelope)
        if duplicate is None:
            raise
        return stored(duplicate, "duplicate")
    return prepared.finish(outcome)


@dataclass
class Prepared:
    """A mail parsed and classified, outside any transaction: `attempt` is its database
    work (one transaction, or one savepoint of a group commit), `finish` what follows the
    commit."""

    rt: Runtime
    raw: bytes
    envelope: Envelope
    mail: ParsedMail
    classification: Classification
    digest: str
    key: str
    directory: CustomerRecord | None = None  # the sender in a directory, asked beforehand
    directory_down: bool = False  # a directory could not answer for the sender now

    def attempt(self, session: Session) -> Outcome:
        rt, mail = self.rt, self.mail
        session.info[RUNTIME_KEY] = rt  # the timer hooks read this config at commit
        duplicate = already_stored(session, self.digest, self.key, self.envelope)
        if duplicate is not None:
            return _labelled(session, stored(duplicate, "duplicate"), [], mail.message_id)
        ctx = Context(rt, session, self.raw, self.digest, mail, self.envelope,
                      self.classification, content_key=self.key, directory=self.directory,
                      directory_down=self.directory_down)
        # The mail's history and Message-ID rows: one executemany each, written when the
        # block ends (before its savepoint or commit) or before any other statement. The
        # sender's customer row is read once for routing, linking and the auto-response.
        with deferred_inserts(session), remembered(session):
            outcome = _apply(ctx)
            if ctx.events:
                from maildesk.outbound.dispatch import dispatch  # jinja2 & co. when needed

                dispatch(session, rt.config, rt.secret, ctx.events)  # respond
        return _labelled(session, outcome, ctx.events, mail.message_id)

    def alone(self, session: Session) -> Outcome:
        """`attempt` as a transaction of its own: its files (the raw mail, attachments,
        new folders) are written at once and fsynced side by side before the commit, as
        a group commit's are, instead of two to four fsyncs one after the other."""
        with self.rt.store.deferred() as pending:
            outcome = self.attempt(session)
            session.flush()
            pending.flush()  # every file durable before the commit points at it
        return outcome

    def finish(self, outcome: Outcome) -> Outcome:
        """After the commit: an unmatched bounce is kept in its spool, once."""
        if outcome.text == UNMATCHED_BOUNCE:
            spool_id = self.rt.spools.unmatched.put(self.raw, self.envelope,
                                              "bounce matching no ticket", once=True)
            return Outcome("unmatched_bounce", 250, f"2.0.0 Ok: bounce kept as {spool_id}")
        return outcome


def prepare(rt: Runtime, raw: bytes, envelope: Envelope) -> Outcome | Prepared:
    """Parse and classify; an Outcome when the mail is answered without the database."""
    config = rt.config
    if envelope.recipients and not any(config.is_system_address(r)
                                       for r in envelope.recipients):
        return Outcome("unknown_recipient", 550, "5.1.1 No such recipient here")
    if not looks_like_mail(raw):
        return Outcome("rejected", 554, "5.6.0 This is not an Internet mail message")
    mail = parse_message(raw, config.limits)  # parse
    hops = len(mail.header_all("Received"))
    if hops > MAX_HOPS:  # RFC 5321 6.3: a mail loop between MTAs; refuse, never answer it
        return Outcome("rejected", 554, f"5.4.6 Too many hops ({hops}): mail loop?")
    classification = classify(mail, envelope, config)  # classify
    directory, down = None, False  # who writes, asked outside the transaction: a slow CRM
    if config.customers and classification.kind != "bounce":  # holds no lock
        directory, down = directories_answer(config, mail.from_addr)
    return Prepared(rt, raw, envelope, mail, classification, sha256(raw),
                    content_key(raw, mail.message_id), directory, down)


def _labelled(session: Session, outcome: Outcome, events: list[TicketEvent],
              message_id: str | None) -> Outcome:
    """The outcome with the ticket's queue and the Message-ID, for the log line."""
    queue = next((e.ticket.queue for e in events if e.ticket.number == outcome.ticket), None)
    if queue is None and outcome.ticket:
        queue = ticket_queue(session, outcome.ticket)
    return replace(outcome, queue=queue, message_id=message_id)


def _apply(ctx: Context) -> Outcome:
    config, session, mail = ctx.rt.config, ctx.session, ctx.mail

    if ctx.classification.kind == "bounce":
        return _bounce(ctx)

    thread = find_ticket(session, config, ctx.rt.secret, mail, ctx.envelope)  # thread
    if thread.ticket is not None and _for_agents(ctx, thread):
        return _agent_mail(ctx, thread)
    if thread.ticket is not None and ctx.classification.kind == "autoreply":
        followups.add_autoreply(ctx, thread.ticket)
        return stored(thread.ticket.number)
    if thread.ticket is not None:
        return _followup(ctx, thread.ticket)

    known = is_known_customer(session, mail.from_addr, ctx.directory)  # table, directories
    decision = route(config, mail, ctx.envelope, known_customer=known, followup=False)  # route
    if decision.reject:
        return Outcome("rejected", 550, "5.7.1 " + _one_line(decision.reject))
    if decision.ignore:
        return Outcome("ignored", 250, "2.0.0 Ok: discarded by rule " + decision.matched[-1])
    queue = config.queue(decision.queue)
    if queue is not None and queue.require_known_customer and not known:
        if ctx.directory_down:  # "unknown for now": the MTA retries, nothing bounces
            return Outcome("deferred", 451, "4.4.3 The customer directory cannot answer "
                           "now; try again later")
        return Outcome("rejected", 550,
                       "5.7.1 This address only takes mail from registered customers")
    ticket = _new_ticket(ctx, decision, linked_to=thread.linked_to)  # apply
    return stored(ticket.number)


def _new_ticket(ctx: Context, decision: Route, linked_to: Ticket | None = None) -> Ticket:
    ticket, event = open_ticket(ctx.session, ctx.rt, ctx.incoming(), decision,
                                linked_to=linked_to)
    ctx.events.append(event)
    return ticket


def _followup(ctx: Context, ticket: Ticket) -> Outcome:
    """A mail to a ticket from its customer's side: `/solved`, a closed ticket's policy, or
    a follow-up; the ticket changes are the core's (`core.followups`)."""
    from maildesk.kb.solved import solved_by_customer

    if solved_by_customer(ctx, ticket):  # "/solved" from a participant (SPEC 18)
        return stored(ticket.number)
    config = ctx.rt.config
    if not ticket.is_closed:
        decision = route(config, ctx.mail, ctx.envelope, known_customer=True, followup=True)
        followups.followup(ctx, ticket, decision)
        return stored(ticket.number)
    policy = followups.closed_policy(config, ticket)
    if policy == "new_ticket":
        decision = route(config, ctx.mail, ctx.envelope, known_customer=True, followup=False)
        if decision.reject:
            return Outcome("rejected", 550, "5.7.1 " + _one_line(decision.reject))
        return stored(_new_ticket(ctx, decision, linked_to=ticket).number)
    if policy == "reject":
        followups.refuse_closed(ctx, ticket)
    else:
        followups.reopen(ctx, ticket)
    return stored(ticket.number)


def _for_agents(ctx: Context, thread: Thread) -> bool:
    """From an agent's address, or an answer to an agent's notification (its reply token
    in the recipient or in a referenced Message-ID) whoever wrote it: a forwarded
    notification's reply must not pass for a customer's follow-up."""
    from maildesk.agents.auth import carries_token

    return (ctx.rt.config.agent(ctx.mail.from_addr or "") is not None
            or thread.via == "token"
            or carries_token(ctx.rt.config, ctx.rt.secret, ctx.mail, ctx.envelope))


def _agent_mail(ctx: Context, thread: Thread) -> Outcome:
    """An agent writing to a ticket, or anyone writing through an agent's reply token (a
    forwarded notification): `maildesk.agents` authenticates, applies the commands and
    sends the answer; what it cannot verify stays an internal, unverified note."""
    from maildesk.agents import handle_agent_mail

    return handle_agent_mail(ctx, thread)


def _bounce(ctx: Context) -> Outcome:
    """A DSN: recorded on the ticket whose mail bounced; never a new ticket."""
    from maildesk.outbound.bounces import match_bounce

    bounce = ctx.classification.bounce
    ticket = None
    if bounce is not None:
        ticket = match_bounce(ctx.session, ctx.rt.secret, bounce.verp_id, bounce.verp_sig,
                              bounce.message_ids)
    if ticket is None:
        # Written by `process` once the transaction is over (it may run again on a lost
        # race): the caller keeps the bytes, once, under a name made of their sha256.
        return Outcome("unmatched_bounce", 250, UNMATCHED_BOUNCE)
    followups.record_bounce(ctx, ticket)
    return stored(ticket.number)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:400]
