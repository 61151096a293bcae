"""/tag +a -b: add and remove tags (a bare name adds it)."""

from __future__ import annotations

import re
from typing import ClassVar

from maildesk.commands.base import CommandError, Work

__all__ = ["Tag"]

_TAG = re.compile(r"[\w][\w.:/-]{0,49}")


class Tag:
    name: ClassVar[str] = "tag"
    argument_description: ClassVar[str] = "+add -remove ..."
    description: ClassVar[str] = "add (+name) or remove (-name) tags"

    def process(self, work: Work, args: list[str]) -> str:
        if not args:
            raise CommandError("/tag needs tags, e.g. /tag +vip -spam")
        add: list[str] = []
        remove: list[str] = []
        for arg in args:
            sign, name = (arg[0], arg[1:]) if arg[0] in "+-" else ("+", arg)
            if not _TAG.fullmatch(name):
                raise CommandError(f"not a tag: {arg!r} (letters, digits, . : / - _; "
                                   "up to 50)")
            (add if sign == "+" else remove).append(name.lower())
        work.require_unlocked()
        work.require("note")
        ticket = work.ticket
        tags = (set(ticket.tags) | set(add)) - set(remove)
        if tags == set(ticket.tags):
            return "tags unchanged"
        old, ticket.tags = ticket.tags, sorted(tags)
        work.record("tags", old=old, new=ticket.tags)
        return "tags: " + (", ".join(ticket.tags) or "(none)")
