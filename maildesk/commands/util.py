"""Small argument checks shared by the commands, so every error reads the same way."""

from __future__ import annotations

from maildesk.commands.base import CommandError

__all__ = ["no_arguments", "one_argument"]


def no_arguments(name: str, args: list[str]) -> None:
    if args:
        raise CommandError(f"/{name} takes no argument, not {' '.join(args)!r}")


def one_argument(name: str, args: list[str], what: str) -> str:
    if len(args) != 1:
        raise CommandError(f"/{name} needs exactly one {what}")
    return args[0]
