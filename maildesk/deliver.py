"""The `maildesk` command's entry: `deliver` first tries a running daemon (SPEC 19).

An MTA starts `maildesk deliver` once per mail, so what it imports before its work is its
throughput. This module imports only `os`, `socket` and `sys`: it finds `listen.socket` in
the config file with a line scanner (no YAML, no config package), and when a daemon
answers there it hands the mail over in LMTP and exits with the daemon's verdict. When no
daemon answers, or it answers something only the in-process path can judge the same way
(a line longer than SMTP allows, too many recipients, a refusal before DATA), everything
else is imported and the mail is processed in this process, as before. Exit codes are
SPEC 11's either way: 0 stored, 67 unknown recipient, 65 refused, 75 try again later.
"""

from __future__ import annotations

import os
import socket
import sys

__all__ = ["main", "via_daemon"]

EX_OK, EX_DATAERR, EX_NOUSER, EX_TEMPFAIL = 0, 65, 67, 75
CONNECT_TIMEOUT = 2.0  # seconds: a daemon that does not greet by then is treated as absent
REPLY_TIMEOUT = 300.0  # the pipeline's verdict on a big mail under load takes a while
MAX_LINE = 998  # RFC 5321 without CRLF: longer lines are the in-process path's to judge


def main() -> int:
    """The console script: `deliver` through the daemon when one answers, else the CLI."""
    argv = sys.argv[1:]
    message = None
    if "deliver" in argv:
        found = via_daemon(argv)
        if isinstance(found, int):
            return found
        message = found
        # In process: one mail, then the process ends. Python's cycle collector would run
        # hundreds of times over the objects the imports make (SQLAlchemy, the models, the
        # config) and find nearly nothing to free: ~15% of this path's CPU, for memory
        # that exit gives back anyway (bench/README.md, "One process per mail").
        import gc

        gc.disable()
    from maildesk.cli import main as cli_main

    return cli_main(argv, message=message)


def via_daemon(argv: list[str]) -> int | bytes | None:
    """The exit code when a daemon took the verdict; else the mail read from stdin (or None
    when the arguments are not plain `deliver` ones) for the in-process path."""
    options = _options(argv)
    if options is None:
        return None
    config, sender, recipients = options
    path = _socket_path(config)
    if path is None:
        return None
    try:
        raw = sys.stdin.buffer.read()
    except (OSError, ValueError):
        return None  # the CLI reads again, fails the same way, and says so
    if not recipients or _has_long_line(raw):
        return raw
    try:
        code = _lmtp(path, sender, recipients, raw)
    except (OSError, ValueError):
        return raw  # no daemon, or it went away mid-mail: dedupe makes a second try safe
    return raw if code is None else code


def _options(argv: list[str]) -> tuple[str, str, list[str]] | None:
    """--config, --sender and --recipient around `deliver`; None for anything else."""
    config = os.environ.get("MAILDESK_CONFIG", "")
    sender, recipients, seen = "", [], False
    args = iter(argv)
    for arg in args:
        name, eq, value = arg.partition("=")
        if arg == "deliver" and not seen:
            seen = True
            continue
        if name not in ("--config", "--sender", "--recipient"):
            return None  # -v, --help, a typo: the CLI's parser answers
        if not eq:
            value = next(args, None)  # type: ignore[assignment]
            if value is None:
                return None
        if name == "--config":
            config = value
        elif name == "--sender":
            sender = value
        else:
            recipients.append(value.lower())
    if not seen:
        return None
    if not config:
        config = next((c for c in ("maildesk.yaml", "/etc/maildesk/maildesk.yaml")
                       if os.path.isfile(c)), "maildesk.yaml")
    return os.path.expanduser(config), sender, recipients


def _socket_path(config: str) -> str | None:
    """`listen.socket` from the block-style YAML `maildesk init` writes, relative to the
    config's folder. Another style is not recognised: then no socket, in process."""
    try:
        with open(config, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    inside, indent = False, None
    for line in lines:
        text = line.split(" #", 1)[0].rstrip()
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        depth = len(text) - len(text.lstrip(" "))
        if depth == 0:
            inside = text == "listen:"
            indent = None
            continue
        if not inside:
            continue
        indent = depth if indent is None else indent
        key, colon, value = text.strip().partition(":")
        if depth == indent and colon and key == "socket":
            value = value.strip().strip("'\"")
            if not value or value in ("null", "~"):
                return None
            value = os.path.expanduser(value)
            base = os.path.dirname(os.path.abspath(config))
            return value if os.path.isabs(value) else os.path.join(base, value)
    return None


def _has_long_line(raw: bytes) -> bool:
    start = 0
    while True:
        end = raw.find(b"\n", start)
        if (end if end >= 0 else len(raw)) - start > MAX_LINE + 1:
            return True
        if end < 0:
            return False
        start = end + 1


class _Replies:
    def __init__(self, sock: socket.socket) -> None:
        self.file = sock.makefile("rb")

    def read(self) -> tuple[int, str]:
        """One reply (the last line of a multi-line one): its code and text."""
        while True:
            line = self.file.readline(4096)
            if not line:
                raise OSError("the daemon closed the connection")
            if line[3:4] != b"-":
                return int(line[:3]), line[4:].decode("utf-8", "replace").strip()


def _lmtp(path: str, sender: str, recipients: list[str], raw: bytes) -> int | None:
    """The daemon's verdict as an exit code; None when it must be the in-process path's."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(CONNECT_TIMEOUT)
        sock.connect(path)
        replies = _Replies(sock)
        if replies.read()[0] != 220:
            return None  # shutting down, or full: this process does it

        def command(line: str) -> tuple[int, str]:
            sock.sendall(line.encode("utf-8") + b"\r\n")
            return replies.read()

        if command("LHLO deliver.localhost")[0] != 250:
            return None
        params = ""
        if any(ord(c) > 127 for c in sender + "".join(recipients)):
            params += " SMTPUTF8"
        if any(b > 127 for b in raw):
            params += " BODY=8BITMIME"
        if command(f"MAIL FROM:<{sender}>{params}")[0] != 250:
            return None
        accepted, unknown = 0, 0
        for rcpt in recipients:
            code, _ = command(f"RCPT TO:<{rcpt}>")
            if code == 250:
                accepted += 1
            elif code == 550:
                unknown += 1
            else:
                return None  # too many, a bad address: as in process
        if not accepted:
            print("5.1.1 No such recipient here", file=sys.stderr)
            return EX_NOUSER
        if command("DATA")[0] != 354:
            return None
        sock.settimeout(REPLY_TIMEOUT)
        sock.sendall(_dot_stuffed(raw))
        verdicts = [replies.read() for _ in range(accepted)]  # LMTP: one per recipient
        try:
            command("QUIT")
        except OSError:
            pass
    code, text = verdicts[0]
    if code == 421 or text.startswith(("5.3.4", "5.5.2")):
        return None  # the SMTP layer's limits or a stop, not the pipeline's verdict
    if code < 400:
        return EX_OK
    print(text, file=sys.stderr)  # Postfix shows this in its bounce or log
    return EX_TEMPFAIL if code < 500 else EX_DATAERR


def _dot_stuffed(raw: bytes) -> bytes:
    """CRLF line ends, a leading dot doubled, and the final dot line."""
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    body = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)
    return body + (b"\r\n" if body else b"") + b".\r\n"
