"""The address of MAIL FROM and RCPT TO, with a fast path for the plain `<local@domain>`.

aiosmtpd parses every path with `email._header_value_parser` (a token tree per address)
and builds a `typing.Protocol` class on each call: 5.4% of the daemon's core under 2 KB
mail (issue 20). Nearly every path is a dot-atom in angle brackets with ASCII letters,
digits and hyphens in the domain; for those one regular expression gives the same
(address, rest) pair. Anything else (quoted local parts, comments, address literals,
source routes, UTF-8, no angle brackets) takes aiosmtpd's parser as before, so the
accept/reject answers do not change (tests/smtp/test_paths.py compares the two).
"""

from __future__ import annotations

import re
from email._header_value_parser import AddrSpec, AngleAddr, get_addr_spec, get_angle_addr
from email.errors import HeaderParseError

__all__ = ["parse_path"]

# `<` dot-atom local part `@` LDH labels `>`, and the rest of the argument.
_PLAIN = re.compile(
    r"<([A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(.*)\Z", re.DOTALL)


def parse_path(arg: str, local_part_limit: int = 0) -> tuple[str | None, str | None]:
    """(address, rest of the argument) as aiosmtpd's `SMTP._getaddr` returns them:
    ("", "") for nothing, (None, None) for what does not parse or has a local part longer
    than `local_part_limit` (0: no limit)."""
    if not arg:
        return "", ""
    match = _PLAIN.match(arg)
    if match is not None:
        addr, rest = match.group(1), match.group(2)
        if rest[:1] in (" ", "\t"):  # the parser's folding white space: any str.isspace()
            rest = rest.lstrip()
        if rest[:1] == "(":  # a comment: the parser's to skip
            match = None
    if match is None:
        try:
            token: AngleAddr | AddrSpec
            if arg.lstrip().startswith("<"):
                token, rest = get_angle_addr(arg)
            else:
                token, rest = get_addr_spec(arg)
        except HeaderParseError:
            return None, None
        addr = token.addr_spec
    if local_part_limit and len(addr.rpartition("@")[0]) > local_part_limit:
        return None, None
    return addr, rest
