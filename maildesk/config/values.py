"""Value parsers: text as an admin writes it (25MiB, 1h30m, [::1]:25, very high) to values.

Each raises ValueError with a message that says what to write instead; the YAML walker
prefixes it with `file:line: key:`. They are plain functions, so the CLI and the agent
commands (`/priority high`) use the same grammar as the config file.
"""

from __future__ import annotations

import re

from maildesk.config.vocabulary import PRIORITY_NAMES

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1000**3,
    "gib": 1024**3,
}
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)


def parse_size(value: str | int) -> int:
    """`25MiB`, `25 MB`, `1k` or a number of bytes. KB/MB/GB are decimal, KiB/MiB/GiB and
    bare K/M/G binary (what admins mean when they write `25M` for a mail size)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"size must not be negative: {value}")
        return value
    m = _SIZE_RE.fullmatch(value)
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"not a size: {value!r} (write e.g. 25MiB, 500KB or 1048576)")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])


def parse_duration(value: str | int | float) -> float:
    """`30s`, `15m`, `1h30m`, `5d`, `1w` or a number of seconds, as seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if not 0 <= value < float("inf"):
            raise ValueError(f"duration must be a positive number: {value}")
        return float(value)
    text = value.strip()
    try:
        return parse_duration(float(text))
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if text[pos : m.start()].strip():
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2).lower()]
        pos = m.end()
    if pos == 0 or text[pos:].strip():
        raise ValueError(f"not a duration: {value!r} (write e.g. 30s, 15m, 1h, 5d)")
    return total


def parse_hostport(value: str) -> tuple[str, int]:
    """`host:port`, `127.0.0.1:2525` or `[::1]:2525` (IPv6 needs the brackets)."""
    if not isinstance(value, str):
        raise ValueError(f"not host:port: {value!r} (write e.g. 127.0.0.1:2525)")
    text = value.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"not host:port: {value!r} (IPv6 is written [::1]:2525)")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"not host:port: {value!r} (write e.g. 127.0.0.1:2525)")
        if ":" in host:
            raise ValueError(f"IPv6 address needs brackets: {value!r} (write [::1]:2525)")
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"not host:port: {value!r} (missing or bad host)")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"not host:port: {value!r} (port must be 0-65535)")
    return host, int(port_text)


def parse_priority(value: str | int) -> int:
    """1-5, `3`, a name (`very high`) or OTRS style `4 high`, as 1-5."""
    if isinstance(value, bool):
        raise ValueError(f"not a priority: {value!r}")
    if isinstance(value, int):
        if 1 <= value <= 5:
            return value
        raise ValueError(f"priority must be 1-5, not {value}")
    text = " ".join(value.lower().split())
    if text.isdigit():
        return parse_priority(int(text))
    if text in PRIORITY_NAMES:
        return PRIORITY_NAMES[text]
    number, _, name = text.partition(" ")
    if number.isdigit() and PRIORITY_NAMES.get(name) == int(number):
        return int(number)
    names = ", ".join(PRIORITY_NAMES)
    raise ValueError(f"not a priority: {value!r} (1-5 or {names})")


# Written as negated ASCII classes: the same sets as `[A-Za-z0-9...\u0080-\U0010ffff]`,
# but they compile in microseconds instead of ~10 ms each (paid by every `deliver`).
_ATEXT = r"[^\x00-\x20\x7f()<>\[\]:;@\\,.\"]"  # atext, and any non-ASCII letter
_LETTER = r"[^\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]"  # letter or digit, any script
_LABEL = rf"{_LETTER}(?:[^\x00-\x2c\x2e\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]*{_LETTER})?"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*"
_ADDR = rf"(?:{_ATEXT}+(?:\.{_ATEXT}+)*|\"[^\"\\\r\n]*\")@(?:{_DOMAIN}|\[[0-9A-Fa-f:.]+\])"

DOMAIN_RE = re.compile(_DOMAIN)
_ADDR_RE = re.compile(_ADDR)
LANG_RE = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*")
HEADER_NAME_RE = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext: printable ASCII but ':'


def check_address(text: str) -> str:
    """A single bare addr-spec, lowercased: queue and agent identity hangs on it."""
    address = text.strip()
    if "<" in address or "," in address or " " in address:
        raise ValueError(f"must be a single bare address like support@example.com, not {text!r}")
    if len(address) > 254 or not _ADDR_RE.fullmatch(address):
        raise ValueError(f"not a valid address: {text!r}")
    from maildesk.addresses import normalize  # the grammar intake and outbound use too

    return normalize(address).lower()


def show_size(value: int) -> str:
    """Bytes as an admin writes them: 26214400 -> 25MiB."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value and value % factor == 0:
            return f"{value // factor}{unit}"
    return str(value)


def show_duration(value: float) -> str:
    """Seconds as an admin writes them: 3600 -> 1h, 90 -> 1m30s."""
    out, rest = "", int(value)
    if rest != value:
        return f"{value}s"
    for unit, factor in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= factor:
            out, rest = out + f"{rest // factor}{unit}", rest % factor
    return out or "0s"
