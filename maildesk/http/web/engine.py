"""The web's one door into the mail command engine: a block of command lines and a text
(an answer, or a note), run for an agent with the same permissions, locks and all-or-none
rule as a command mail (SPEC 7, 15).

Every form of the ticket page calls `run_block` here and nowhere else, so moving to the
core's engine (`maildesk.core.commands.run_block` with an Actor, issue 12) is one edit in
this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk.commands import MAX_COMMANDS, LineResult, Work, run_commands
from maildesk.config import Agent
from maildesk.intake.message import ParsedMail
from maildesk.store.models import Ticket
from maildesk.tickets import add_article, record

if TYPE_CHECKING:
    from maildesk.app import App

__all__ = ["BlockResult", "NotVisible", "run_block"]


class NotVisible(Exception):
    """No such ticket, or not in a queue the agent may read."""


@dataclass
class BlockResult:
    applied: bool
    results: list[LineResult]


class WebWork(Work):
    """A command mail's work, recorded as done through the web."""

    def record(self, event: str, **details: object) -> None:
        record(self.session, self.ticket, event, self.agent.address, via="web", **details)


class _Failed(Exception):
    def __init__(self, results: list[LineResult]) -> None:
        super().__init__("commands failed")
        self.results = results


def run_block(app: App, agent: Agent, number: str, lines: list[str], text: str,
              note: bool) -> BlockResult:
    """Every line runs (so every error is reported); the commands, the text and their
    events commit together only when none failed."""
    lines = [line.strip() for line in lines if line.strip()]
    if note and not any(line.split()[0].lower() == "/note" for line in lines):
        lines.insert(0, "/note")
    if len(lines) > MAX_COMMANDS:
        return BlockResult(False, [LineResult("", False, f"more than {MAX_COMMANDS} commands")])

    def attempt(session: Session) -> list[LineResult]:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)
                                 ).scalar_one_or_none()
        if ticket is None or "read" not in app.config.permissions(agent, ticket.queue):
            raise NotVisible(number)
        session.refresh(ticket, with_for_update=True)  # as a command mail: one at a time
        work = WebWork(app, session, ticket, agent)
        results = run_commands(work, lines)
        answer = _answer_check(work, text)
        if answer is not None:
            results.append(answer)
        if not all(r.ok for r in results):
            raise _Failed(results)
        from maildesk.outbound.dispatch import dispatch

        if text:
            target = work.merged_into or ticket
            mail = ParsedMail(subject=target.title, from_addr=agent.address,
                              from_name=agent.name, body=text)
            article = add_article(session, app.store, target, mail=mail, raw=None,
                                  envelope=None, sender_type="agent",
                                  visibility="internal" if work.note else "public",
                                  kind="note" if work.note else "answer", actor=agent.address)
            if work.note:
                record(session, target, "note", agent.address, article=article.id, via="web")
            else:
                from maildesk.events import AnswerQueued

                dispatch(session, app.config, app.secret,
                         [AnswerQueued(target, text, agent.address)])
        dispatch(session, app.config, app.secret, work.events)
        return results

    try:
        return BlockResult(True, app.db.run(attempt))
    except _Failed as failed:
        return BlockResult(False, failed.results)


def _answer_check(work: Work, text: str) -> LineResult | None:
    """The text as one more step: it needs `reply` (or `note` with /note) in the queue."""
    if not text:
        return None
    queue = (work.merged_into or work.ticket).queue
    needed = "note" if work.note else "reply"
    if needed not in work.config.permissions(work.agent, queue):
        return LineResult("(your text)", False,
                          f"you do not have the '{needed}' permission in queue {queue}")
    return LineResult("(your text)", True, "kept as an internal note" if work.note
                      else "sent as the answer to the customer")
