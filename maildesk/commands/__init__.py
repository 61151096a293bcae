"""Agent commands by mail (SPEC 7): the registry, the command block, and running it.

A command block is the run of lines at the very top of the body that start with `/`; the
first other line ends it, so text below and quoted text are never read as commands. Every
line runs (so the transcript reports every error at once), but the caller applies them
only when none failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from maildesk.commands.assign import Assign
from maildesk.commands.base import Command, CommandError, Work
from maildesk.commands.cc import Cc
from maildesk.commands.faq import Faq
from maildesk.commands.lock import Lock, Unlock
from maildesk.commands.merge import Merge
from maildesk.commands.move import Move
from maildesk.commands.note import Note
from maildesk.commands.priority import Priority
from maildesk.commands.state import Close, Pending, Reopen
from maildesk.commands.tag import Tag

__all__ = [
    "COMMANDS",
    "Command",
    "CommandError",
    "LineResult",
    "MAX_COMMANDS",
    "Work",
    "help_text",
    "run_commands",
    "split_commands",
]

COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (Lock(), Unlock(), Move(), Priority(), Close(), Reopen(), Pending(), Assign(),
              Note(), Tag(), Cc(), Merge(), Faq())
}
MAX_COMMANDS = 50
MAX_LINE = 500


@dataclass
class LineResult:
    line: str
    ok: bool
    text: str


def split_commands(body: str) -> tuple[list[str], str]:
    """(command lines, the rest of the body). Blank lines before the block are skipped."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    block: list[str] = []
    while i < len(lines) and lines[i].lstrip().startswith("/"):
        block.append(lines[i].strip())
        i += 1
    return block, "\n".join(lines[i:])


def help_text() -> str:
    """One line per command, generated from the registry."""
    return "\n".join(
        f"/{c.name}{' ' + c.argument_description if c.argument_description else ''}"
        f" - {c.description}" for c in COMMANDS.values()
    )


def run_commands(work: Work, lines: list[str]) -> list[LineResult]:
    results: list[LineResult] = []
    for n, line in enumerate(lines):
        results.append(_run_line(work, line, n))
    return results


def _run_line(work: Work, line: str, n: int) -> LineResult:
    shown = line[:MAX_LINE]
    if n >= MAX_COMMANDS:
        return LineResult(shown, False, f"more than {MAX_COMMANDS} commands in one mail")
    if work.merged_into is not None:
        return LineResult(shown, False, "nothing may follow /merge in the same mail")
    name, *args = line[1:].split() or [""]
    command = COMMANDS.get(name.lower())
    if command is None:
        known = ", ".join("/" + c for c in COMMANDS)
        what = f"unknown command /{name}" if name else "a / without a command"
        return LineResult(shown, False, f"{what} (known: {known})")
    try:
        return LineResult(shown, True, command.process(work, args))
    except CommandError as exc:
        return LineResult(shown, False, str(exc))
