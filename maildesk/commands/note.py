"""/note: the text of this mail stays an internal note; the customer gets nothing."""

from __future__ import annotations

from typing import ClassVar

from maildesk.commands.base import Work
from maildesk.commands.util import no_arguments

__all__ = ["Note"]


class Note:
    name: ClassVar[str] = "note"
    argument_description: ClassVar[str] = ""
    description: ClassVar[str] = "keep the text internal: the customer gets nothing"

    def process(self, work: Work, args: list[str]) -> str:
        no_arguments(self.name, args)
        work.require("note")
        work.note = True
        return "the text is kept as an internal note"
