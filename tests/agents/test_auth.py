"""Identity from the raw From header only (P8; hostile tests 46 and 47)."""

from __future__ import annotations

import pytest

from maildesk.agents.auth import strict_from


def head(*froms: str) -> bytes:
    lines = [f"From: {f}" for f in froms] + ["To: support@example.com", "Subject: x"]
    return ("\r\n".join(lines) + "\r\n\r\nbody\r\n").encode()


@pytest.mark.parametrize("value", [
    "Alice Example <alice@example.com>",
    "alice@EXAMPLE.com",
    "=?utf-8?q?Alice_Example?= <alice@example.com>",
    "\"Example, Alice\" <alice@example.com>",
])
def test_one_plain_address(value: str) -> None:
    assert strict_from(head(value)) == ("alice@example.com", "")


@pytest.mark.parametrize(("froms", "why"), [
    (("alice@example.com", "mallory@evil.example"), "2 From headers"),
    ((), "0 From headers"),
    (("alice@example.com)<mallory@evil.example>",), "not one valid address"),
    (("alice@example.com, mallory@evil.example",), "not one valid address"),
    (("=?utf-8?b?YWxpY2VAZXhhbXBsZS5jb20=?==?utf-8?Q?=00?=@evil.example",), "encoded"),
    (("alice@example.com\x00@evil.example",), "control characters"),
])
def test_ambiguous_identity(froms: tuple[str, ...], why: str) -> None:
    addr, reason = strict_from(head(*froms))
    assert addr is None and why in reason


def test_display_name_is_never_the_identity() -> None:
    assert strict_from(head('"alice@example.com" <mallory@evil.example>'))[0] == \
        "mallory@evil.example"
