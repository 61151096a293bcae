"""The RCPT check for control characters (issue 20: `str.isprintable` first, then a
regex) says what the generator over the characters it replaced said, for every code
point."""

from __future__ import annotations

from maildesk.smtp.handler import _has_control


def old_has_control(address: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in address)


def test_every_code_point() -> None:
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF and code % 97:
            continue  # surrogates (from surrogateescape): a sample is enough
        address = f"a{chr(code)}b@example.com"
        assert _has_control(address) == old_has_control(address), hex(code)


def test_plain_and_mixed() -> None:
    for address in ("", "support@example.com", "ü@bücher.example", "a\x00@b", "\x7f",
                    "a\u2028b@example.com", "a\u00a0b\x1f@example.com", "a b@c"):
        assert _has_control(address) == old_has_control(address), address
