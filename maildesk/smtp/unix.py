"""LMTP on a Unix socket (SPEC 19, `listen.socket`): the door `maildesk deliver` knocks on.

A socket file left by a daemon that died is removed at start; one that a live daemon still
answers on is an error (two daemons must not share a door). The file gets the umask's mode:
with the usual 022 only its owner may connect, the MTA's pipe user being that owner.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import stat
from collections.abc import Callable
from pathlib import Path

__all__ = ["listen_unix", "remove_socket"]

log = logging.getLogger("maildesk.smtp")


async def listen_unix(path: Path, factory: Callable[[], asyncio.Protocol]) -> asyncio.Server:
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise OSError(f"listen.socket {path} exists and is not a socket")
        if _answers(path):
            raise OSError(f"listen.socket {path}: another daemon answers there")
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    return await loop.create_unix_server(factory, str(path))


def remove_socket(path: Path) -> None:
    """At shutdown: `deliver` then finds no socket and works in its own process."""
    try:
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc)


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True
