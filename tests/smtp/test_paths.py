"""MAIL FROM / RCPT TO paths (issue 20): the fast path for plain `<local@domain>` gives what
aiosmtpd's own parser gives, for plain addresses and for every odd one near them."""

from __future__ import annotations

import random
from types import SimpleNamespace

from aiosmtpd.smtp import SMTP

from maildesk.smtp.paths import _PLAIN, parse_path

ALPHABET = list("ab.-_+=!#~'`{}|?^*/%$&@<>()[]\":;,\\ \tZ09") + ["é", "\x00", "\x7f", "\u202e",
                                                                 "\udcff", "\r", "\n"]
PLAIN = ["<alice@example.org>", "<a.b-c+d@mail.example.co.uk>", "<x@y>", "<>",
         "<ALICE@EXAMPLE.ORG> SIZE=2000", "<a@b.c> BODY=8BITMIME SMTPUTF8",
         "<a@b.c>\tSIZE=1", "<a@b.c>x", "<a@b.c>>", "<a@b.c>  SIZE=1 (c)", "<.a.@b>",
         "<a..b@c>", "<a@-b->", "<o'neil@example.org>", "<a@b.c> ", "<a@b.c>\x0bX"]


def _aiosmtpd(arg: str, limit: int = 0) -> object:
    try:
        return SMTP._getaddr(SimpleNamespace(local_part_limit=limit), arg)  # type: ignore[arg-type]
    except Exception as exc:  # the parser's IndexError on "<": a 451 either way
        return type(exc)


def _ours(arg: str, limit: int = 0) -> object:
    try:
        return parse_path(arg, limit)
    except Exception as exc:
        return type(exc)


def test_plain_paths_take_the_fast_path_and_agree() -> None:
    for arg in PLAIN:
        assert _ours(arg) == _aiosmtpd(arg), arg
    assert all(_PLAIN.match(arg) for arg in PLAIN if arg != "<>")


def test_odd_paths_agree_with_aiosmtpd() -> None:
    rng = random.Random(20)
    odd = ['<"a b"@c>', "<a@[1.2.3.4]>", "<@x,@y:a@b>", "a@b", " <a@b>", "<a@b.>", "<a@.b>",
           "<a@b..c>", "<a(c)@b>", "<a@b>(c) SIZE=1", "<é@b>", "<a@é.b>", "<a@b", "a@b>",
           "<a\x00@b>", "<a@b\x00>", "", "<", ">", "<@>", "<a@>", "<@b>", "<.@b>", "<a@b.c.>"]
    for arg in odd:
        assert _ours(arg) == _aiosmtpd(arg), arg
    for _ in range(20000):
        base = rng.choice(PLAIN)
        chars = list(base)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(chars) + 1)
            if rng.random() < 0.5 and chars:
                del chars[min(at, len(chars) - 1)]
            else:
                chars.insert(at, rng.choice(ALPHABET))
        arg = "".join(chars)
        assert _ours(arg) == _aiosmtpd(arg), repr(arg)


def test_the_local_part_limit_is_kept() -> None:
    for arg in ("<abcdef@b>", "<abc@b>", '<"abcdef"@b>'):
        assert _ours(arg, 4) == _aiosmtpd(arg, 4), arg
