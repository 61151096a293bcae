"""/faq NAME: an agent's answer gets the knowledge base entry's text (SPEC 18).

A command of the block at the top of the agent's mail, like the others: it needs the
`reply` permission, refuses an unknown name with the names it knows, and appends the
entry's text (Markdown as written, readable as plain text) below what the agent typed, so
`/faq reset-password` alone is a whole answer.
"""

from __future__ import annotations

from typing import ClassVar

from maildesk.commands.base import CommandError, Work

__all__ = ["Faq", "with_inserts"]


class Faq:
    name: ClassVar[str] = "faq"
    argument_description: ClassVar[str] = "NAME"
    description: ClassVar[str] = "add the knowledge base entry NAME to the answer"

    def process(self, work: Work, args: list[str]) -> str:
        if len(args) != 1:
            raise CommandError("/faq takes one entry name (maildesk kb list shows them)")
        work.require("reply")
        config = work.config
        if config.kb.path is None:
            raise CommandError("no knowledge base is configured (kb.path)")
        from maildesk.kb.library import library

        lib = library(config)
        entry = lib.entry(args[0])
        if entry is None:
            names = sorted(lib.index.entries)
            shown = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")
            raise CommandError(f"no knowledge base entry '{args[0][:100]}' "
                               f"(entries: {shown or 'none'})")
        work.inserts.append(entry.body.strip())
        work.record("faq", entry=entry.name)
        return f"the answer gets the entry '{entry.name}': {entry.title}"


def with_inserts(text: str, inserts: list[str]) -> str:
    """The agent's text, then each inserted entry, a blank line apart."""
    return "\n\n".join(part for part in (text.strip(), *inserts) if part)
