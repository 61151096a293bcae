"""A part's header fields: raw values by name, Content-Type/-Disposition parameters,
address lists and message-id lists, all bounded; and the mail-level header fields of a
ParsedMail."""

from __future__ import annotations

import re
from email.message import Message
from email.utils import collapse_rfc2231_value, getaddresses

from maildesk.intake.charsets import (
    CONTROL,
    clean,
    decode_header_value,
    decode_text,
    header_charset,
    to_text,
    unfold,
)
from maildesk.intake.message import ParsedMail

__all__ = ["MAX_IDS", "MAX_ID_LEN", "MAX_PARAM_HEADER", "Headers", "fill_headers", "param"]

MAX_IDS = 100  # In-Reply-To / References entries kept (first one and the newest)
MAX_ID_LEN = 255  # longer ids are dropped: they cannot be indexed, dedupe uses the raw hash
MAX_ADDRESSES = 1000  # per address header kind
MAX_PARAM_HEADER = 16 * 1024  # compat32's parameter parser is quadratic in header length

_SIMPLE_PARAM = re.compile(r';\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]*))')
# One mailbox in its everyday forms: `addr`, `Name <addr>`, `"Name" <addr>` (no comments).
_SIMPLE_MAILBOX = re.compile(
    r'\s*(?:"((?:[^"\\\r\n]|\\.)*)"|([^",<>@:;()\\"\[\]]*?))\s*'
    r"<([^<>\s@\",;:()\[\]\\]+@[^<>\s@\",;:()\[\]\\]+)>\s*"
    r"|\s*([^<>\s@\",;:()\[\]\\]+@[^<>\s@\",;:()\[\]\\]+)\s*"
)
_LOOSE_ADDR = re.compile(r"[^\s<>()\[\],;:\"]{1,64}@[A-Za-z0-9.-]{1,255}")
_ANGLE_ID = re.compile(r"<([^<>]*)>")


class Headers:
    """A part's raw headers by lowercase name, unfolded and as text on first use."""

    __slots__ = ("_raw", "fallback")

    def __init__(self, msg: Message, fallback: str = "cp1252") -> None:
        raw: dict[str, list[object]] = {}
        for key, value in msg.raw_items():
            raw.setdefault(key.lower(), []).append(value)
        self._raw = raw
        self.fallback = fallback  # codec for raw 8-bit values that are not UTF-8

    def all(self, name: str) -> list[str]:
        return [unfold(to_text(v, self.fallback)) for v in self._raw.get(name, ())]

    def first(self, name: str) -> str | None:
        values = self._raw.get(name)
        return unfold(to_text(values[0], self.fallback)) if values else None


def param(header_text: str | None, name: str) -> str | None:
    """One parameter (RFC 2231 aware) of a Content-Type/-Disposition value, as text."""
    if not header_text or name not in header_text.lower():
        return None
    if "*" not in header_text:
        m = _SIMPLE_PARAM.search(header_text)
        while m:  # the common case, without email.message's slow parameter parser
            if m.group(1).lower() == name:
                value = m.group(2) if m.group(2) is not None else m.group(3)
                return value.replace('\\"', '"').strip()
            m = _SIMPLE_PARAM.search(header_text, m.end())
        if '"' not in header_text:
            return None
    tmp = Message()
    tmp["X"] = header_text[:MAX_PARAM_HEADER]
    value = tmp.get_param(name, None, header="x")
    if value is None:
        return None
    if isinstance(value, tuple) and value[0]:  # RFC 2231 `charset''%XX`: maildesk's
        # decoder, which knows what Python's codecs refuse (ISO-2022-JP with NEC ①, ...)
        return decode_text(value[2].encode("raw-unicode-escape"), value[0])[0].strip()
    try:
        return collapse_rfc2231_value(value, errors="replace").strip()
    except Exception:  # a codec that refuses outright ("undefined") raises UnicodeError
        return str(value[2] if isinstance(value, tuple) else value).strip()


def _addresses(values: list[str], mail: ParsedMail, kind: str) -> list[tuple[str, str]]:
    """(display name, lowercase addr-spec) pairs; addr-specs without '@' are dropped."""
    if not values:
        return []
    simple = _SIMPLE_MAILBOX.fullmatch(values[0]) if len(values) == 1 else None
    try:
        if simple:
            name = simple.group(1) or simple.group(2) or ""
            if simple.group(1):
                name = re.sub(r"\\(.)", r"\1", name)
            parsed = [(name.strip(), simple.group(3) or simple.group(4))]
        else:
            parsed = _getaddresses(values)
    except Exception:  # _parseaddr recurses once per ':' (corpus mimekit/stack-overflow.txt)
        mail.notes.append(f"{kind}: address list unparsable, addresses picked out loosely")
        parsed = [("", addr) for addr in _LOOSE_ADDR.findall(" ".join(values))]
    pairs: list[tuple[str, str]] = []
    for name, addr in parsed:
        addr = CONTROL.sub("", addr).strip()
        if " " in addr:
            name, addr = _spaced(name, addr)
        addr = addr.lower()
        if "@" not in addr or " " in addr:
            continue
        pairs.append((name, addr))
        if len(pairs) >= MAX_ADDRESSES:
            mail.notes.append(f"{kind}: more than {MAX_ADDRESSES} addresses, rest ignored")
            mail.truncated = True
            break
    return pairs


def _getaddresses(values: list[str]) -> list[tuple[str, str]]:
    """email.utils.getaddresses as Python 3.11 reads mail: 3.13 (and patched 3.12) is
    strict by default and gives ('', '') for a whole header with one malformed part."""
    try:
        return getaddresses(values, strict=False)  # type: ignore[call-arg,unused-ignore]
    except TypeError:  # Python 3.11.7 and older: no strict mode, always lenient
        return getaddresses(values)


def _spaced(name: str, addr: str) -> tuple[str, str]:
    """An addr-spec with spaces, as spam and broken scripts write: `Name local@domain`
    without brackets is the name and the last word (the peers agree); inside brackets
    (`<power quadrant system@example.com>`) the spaces are dropped, as Zammad does."""
    local, _, domain = addr.rpartition("@")
    words = local.split()
    if not name and len(words) > 1 and not local.startswith('"'):
        return " ".join(words[:-1]), f"{words[-1]}@{domain}"
    return name, "".join(addr.split())


def _unique_addrs(pairs: list[tuple[str, str]]) -> list[str]:
    return list(dict.fromkeys(addr for _, addr in pairs))


def _ids(value: str | None) -> list[str]:
    """Message-ids of a header, without angle brackets, in order, without duplicates."""
    if not value:
        return []
    found = _ANGLE_ID.findall(value)
    if not found:
        found = [tok for tok in re.split(r"[\s,]+", value) if "@" in tok]
    ids: list[str] = []
    for raw in found:
        # A printable id without a space has nothing to drop: every other white space
        # and every CONTROL character is unprintable (issue 20: ~1 us an id less).
        if not raw.isprintable() or " " in raw:
            raw = "".join(CONTROL.sub("", raw).split())
        ident = raw
        if ident and len(ident) <= MAX_ID_LEN:
            ids.append(ident)
    return list(dict.fromkeys(ids))


def _cap_ids(ids: list[str], mail: ParsedMail, kind: str) -> list[str]:
    if len(ids) <= MAX_IDS:
        return ids
    mail.notes.append(f"{kind}: {len(ids)} ids, kept the first and the last {MAX_IDS - 1}")
    return [ids[0], *ids[-(MAX_IDS - 1) :]]


def fill_headers(msg: Message, mail: ParsedMail) -> str:
    """The mail-level fields from the top header block; returns the codec guessed for its
    raw 8-bit values, for the parts' headers (attachment names) to use too."""
    fallback = header_charset([v for _, v in msg.raw_items()])
    hdrs = Headers(msg, fallback)
    mail.headers = []
    for k, v in msg.raw_items():
        if (type(k) is str and type(v) is str and k.isascii() and v.isascii()
                and k.isprintable() and v.isprintable() and "=?" not in v):
            # Plain ASCII with no line break, control character or encoded word: what
            # to_text, unfold, clean and decode_header_value leave of it is it, stripped
            # (issue 20: ~1 us a field, ten a mail).
            mail.headers.append((k.strip(), v.strip()))
        else:
            mail.headers.append((clean(to_text(k)), decode_header_value(v, fallback)))
    subject = date = None  # `mail.header` of each, from one pass over the fields
    for name, value in mail.headers:
        low = name.lower()
        if low == "subject" and subject is None:
            subject = value
        elif low == "date" and date is None:
            date = value
    mail.subject = subject or ""
    mail.date = date

    raw_mid = hdrs.first("message-id")
    ids = _ids(raw_mid)
    if ids:
        mail.message_id = ids[0]
    elif raw_mid and raw_mid.strip():
        mail.notes.append("Message-ID unusable (too long or malformed): ignored")
    mail.in_reply_to = _cap_ids(_ids(" ".join(hdrs.all("in-reply-to"))), mail, "In-Reply-To")
    mail.references = _cap_ids(_ids(" ".join(hdrs.all("references"))), mail, "References")

    froms = _addresses(hdrs.all("from"), mail, "From")
    mail.from_count = len(froms)
    if len(froms) == 1:
        mail.from_addr = froms[0][1]
        mail.from_name = decode_header_value(froms[0][0], fallback)
    elif len(froms) > 1:
        mail.notes.append(f"{len(froms)} From addresses: no single sender")
    mail.to = _unique_addrs(_addresses(hdrs.all("to"), mail, "To"))
    mail.cc = _unique_addrs(_addresses(hdrs.all("cc"), mail, "Cc"))
    mail.reply_to = _unique_addrs(_addresses(hdrs.all("reply-to"), mail, "Reply-To"))
    mail.content_type = msg.get_content_type()
    return fallback
