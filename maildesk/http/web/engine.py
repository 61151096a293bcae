"""The web's one door into the mail command engine: a block of command lines and a text
(an answer, or a note), run for an agent with the same permissions, locks and all-or-none
rule as a command mail (SPEC 7, 15).

Every form of the ticket page calls `run_block` here and nowhere else; it runs the core's
engine (`maildesk.core.commands.run_block`) with the agent as an `Actor` via the web.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from maildesk.commands import MAX_COMMANDS, LineResult
from maildesk.config import Agent
from maildesk.core import commands as core
from maildesk.core.actors import Actor
from maildesk.core.queries import ticket_by_number

if TYPE_CHECKING:
    from maildesk.runtime import Runtime

__all__ = ["BlockResult", "NotVisible", "run_block"]


class NotVisible(Exception):
    """No such ticket, or not in a queue the agent may read."""


@dataclass
class BlockResult:
    applied: bool
    results: list[LineResult]


Upload = core.Upload  # file name, content type, bytes


def run_block(rt: Runtime, agent: Agent, number: str, lines: list[str], text: str,
              note: bool, files: Sequence[Upload] = ()) -> BlockResult:
    """Every line runs (so every error is reported); the commands, the text and their
    events commit together only when none failed.

    With files, the core makes the text's article with them attached (stored as a mail's
    attachments are) only when the block applies; an answer mails them to the customer,
    and fails its step when they would make too big a mail."""
    lines = [line.strip() for line in lines if line.strip()]
    if note and not any(line.split()[0].lower() == "/note" for line in lines):
        lines.insert(0, "/note")
    if len(lines) > MAX_COMMANDS:
        return BlockResult(False, [LineResult("", False, f"more than {MAX_COMMANDS} commands")])
    actor = Actor.agent(agent.address, agent.name, via="web")

    def attempt(session: Session) -> core.BlockResult:
        ticket = ticket_by_number(session, number)
        if ticket is None or "read" not in actor.permissions(rt.config, ticket.queue):
            raise NotVisible(number)
        return core.run_block(session, rt, actor, ticket, lines, text=text,
                              files=files if text else ())

    result = rt.db.run(attempt)
    return BlockResult(result.applied,
                       result.lines + ([result.text] if result.text is not None else []))

