"""Bounded parsing of one raw mail into a ParsedMail; never raises, for any bytes.

Structure comes from the standard `email` package with the legacy `compat32` policy: the
modern policy costs 16x per mail (research/perf.md) and its header parser is quadratic on
hostile input (gh-136063). compat32 does not protect us from everything, so the raw bytes
are measured first (header block size, boundary lines, parameter-header length) and the
parser is fed only what it can finish quickly; the tree walk then enforces the MIME depth,
part count, decoded size and wall-clock caps from `Limits`. Charsets and RFC 2047
are in `charsets`, header fields in `headers`, the tree walk in `mime`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email.feedparser import FeedParser
from email.message import Message
from email.policy import compat32

from maildesk.config import Limits
from maildesk.intake.charsets import decode_header_value, decode_text
from maildesk.intake.headers import MAX_IDS, MAX_PARAM_HEADER, fill_headers
from maildesk.intake.message import ParsedMail
from maildesk.intake.mime import Walk, visit

__all__ = [
    "MAX_IDS",
    "decode_header_value",
    "decode_text",
    "header_tree",
    "looks_like_mail",
    "parse_message",
]

BOUNDARY_SLACK = 4  # boundary-looking lines allowed per permitted part before we refuse

FEED_CHUNK = 64 * 1024  # bytes decoded and fed to the parser at a time

# One header line as email.feedparser recognises it, or a continuation line.
_HEADER_LINES = re.compile(
    rb"(?:From [^\r\n]*(?:\r\n|\n|\r))?"
    rb"(?:(?:[\x21-\x39\x3b-\x7e]*:|[ \t])[^\r\n]*(?:\r\n|\n|\r|\Z))*"
)
_BLANK_LINE = re.compile(rb"\n\r?\n|\r\r")
_FIELD_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")
_PLAUSIBLE_HEADER = re.compile(rb"(?:From [^\r\n]*(?:\r\n|\n|\r))?[A-Za-z][A-Za-z0-9_.-]{0,76}:")
_MULTIPART_HINT = re.compile(rb"(?i)content-type[ \t]*:[ \t\r\n]*(?:multipart|message)/")
_LONG_PARAM_HEADER = re.compile(
    rb"(?im)^content-(?:type|disposition)[ \t]*:(?:[^\r\n]|\r?\n[ \t]|\r[ \t]){%d}"
    % MAX_PARAM_HEADER
)
_BINARY_MAGIC = (
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",  # OLE compound file: Outlook .msg
    b"%PDF-",
    b"PK\x03\x04",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"\x1f\x8b",
    b"\x7fELF",
    b"7z\xbc\xaf",
    b"Rar!",
)
_NEWLINES = re.compile(r"\r\n?")


_LONE_CR = re.compile(r"\r(?!\n)")


def _lf(text: str) -> str:
    """`_NEWLINES.sub("\n", text)` without the regex (0.2 ms for 100 KB): every CRLF, then
    every CR left alone (CRLFs cannot overlap, so both find the same pairs). When every
    CR begins a CRLF (any mail that came over SMTP), dropping the CRs is the same, and
    half the cost: a one-character replace, after a search that stops at each CR only.
    An ASCII text's CRs go in its bytes (issue 20): bytes.replace jumps from CR to CR
    (memchr), str.replace looks at every character (100 KB: 60 -> 25 us with the copies)."""
    if "\r" not in text:
        return text
    if _LONE_CR.search(text) is None:
        if text.isascii():
            return text.encode("ascii").replace(b"\r", b"").decode("ascii")
        return text.replace("\r", "")
    return text.replace("\r\n", "\n").replace("\r", "\n")


_LOWER_CHUNK = 1 << 20  # bytes lowercased at a time to find where a pattern may start
_LAST_BYTE_HITS = 128  # a prefix's last byte looked at one by one before lowercasing instead


def _starts(data: bytes, prefix: bytes) -> Iterator[int]:
    """Every offset where `prefix` (lowercase ASCII) is, in any case: where a `(?i)` bytes
    pattern that begins with it can match. bytes.lower and a bytes pattern's IGNORECASE
    both fold ASCII letters only; a chunk at a time, so a big mail is not copied whole.

    A prefix ending in a byte that has no case (`content-`) is first looked for where
    that byte is (memchr: a 100 KB mail lowercased and searched cost ~85 us, its few
    hyphens ~1 us); past _LAST_BYTE_HITS of them, the rest is lowercased as before."""
    begin = 0
    last, before = prefix[-1:], len(prefix) - 1
    if not last.isalpha():
        at = data.find(last, before)
        for _ in range(_LAST_BYTE_HITS):
            if at < 0:
                return
            if data[at - before : at + 1].lower() == prefix:
                yield at - before
            at = data.find(last, at + 1)
        if at < 0:
            return
        begin = at - before  # every start before this one was looked at
    for start in range(begin, len(data), _LOWER_CHUNK):
        chunk = data[start : start + _LOWER_CHUNK + len(prefix) - 1].lower()
        at = chunk.find(prefix)
        while 0 <= at < _LOWER_CHUNK:
            yield start + at
            at = chunk.find(prefix, at + 1)


def _search(pattern: re.Pattern[bytes], prefix: bytes, data: bytes) -> bool:
    """`pattern.search(data) is not None` for a case-insensitive pattern that begins with
    `prefix`, tried only where the prefix is: re's own search of a case-insensitive
    pattern tries every offset (about 1 ms for 100 KB). `match(data, at)` sees the data
    before `at`, so a "^" under MULTILINE still means the start or a line break."""
    return any(pattern.match(data, at) for at in _starts(data, prefix))


def _content_checks(data: bytes) -> tuple[bool, bool]:
    """(`_LONG_PARAM_HEADER` matches somewhere, `_MULTIPART_HINT` matches somewhere: only
    known when the first is False), as `_search` finds them, from one pass over the data:
    both patterns begin with "content-"."""
    hint = False
    for at in _starts(data, b"content-"):
        if _LONG_PARAM_HEADER.match(data, at):
            return True, hint
        hint = hint or _MULTIPART_HINT.match(data, at) is not None
    return False, hint


def _header_end(raw: bytes, limit: int | None = None) -> int:
    m = _HEADER_LINES.match(raw, 0, len(raw) if limit is None else limit)
    return m.end() if m else 0


def _join_broken_folds(raw: bytes, end: int, cap: int, mail: ParsedMail) -> bytes:
    """A continuation line that lost its leading space (`by mx.example.com with ESMTP`
    under a Received line, a base64 tracker header wrapped at 76) ends the header block for
    the parser: From, Subject and Message-ID below it are lost and become body text. When
    the lines up to the first blank line are mostly real header fields, such lines are read
    as continuations, as Zammad and OTOBO do. Headerless text is left alone."""
    blank = _BLANK_LINE.search(raw, 0, cap + 1)
    if blank is None or end >= blank.start():
        return raw
    head = raw[: blank.start() + 1]
    lines = head.splitlines(keepends=True)
    fields = sum(1 for line in lines if _FIELD_LINE.match(line))
    broken = [i for i, line in enumerate(lines)
              if not _FIELD_LINE.match(line) and line[:1] not in (b" ", b"\t")
              and not (i == 0 and line.startswith(b"From "))]
    if fields < 3 or len(broken) > fields:
        return raw
    for i in broken:
        lines[i] = b" " + lines[i]
    mail.notes.append(f"{len(broken)} header line(s) without a field name read as continuations")
    return b"".join(lines) + raw[blank.start() + 1 :]


def _prepare(raw: bytes, limits: Limits, mail: ParsedMail) -> tuple[bytes, bool]:
    """The bytes to hand the parser, and whether to parse the header block only."""
    cap = limits.max_header_bytes
    end = _header_end(raw, cap + 1)
    data = raw
    if end > cap:
        cut = raw.rfind(b"\n", 0, cap)
        if cut < 0:
            cut = raw.rfind(b"\r", 0, cap)
        head = raw[: cut + 1] if cut >= 0 else b""
        # The rest of a giant block: up to the first blank line (not line by line, which
        # costs a second per million folded lines).
        blank = _BLANK_LINE.search(raw, cut + 1)
        data = head + (raw[blank.start() + 1 :] if blank else b"\n")
        mail.notes.append(f"header block larger than {cap} bytes: headers cut")
        mail.truncated = True
    else:
        data = _join_broken_folds(raw, end, cap, mail)
    long_param, multipart = _content_checks(data)
    if long_param:
        mail.notes.append(
            f"Content-Type/-Disposition longer than {MAX_PARAM_HEADER} bytes: body not parsed"
        )
        mail.truncated = True
        return data, True
    if multipart:
        lines = data.count(b"\n--") + data.count(b"\r--")  # LF or CRLF, and CR-only
        if lines > limits.max_parts * BOUNDARY_SLACK:
            mail.notes.append(
                f"{lines} boundary-like lines (cap {limits.max_parts} parts): body not parsed"
            )
            mail.truncated = True
            return data, True
    return data, False


def _tree(data: bytes, headers_only: bool = False) -> Message:
    """What `BytesParser(policy=compat32).parsebytes` returns, fed a chunk at a time.

    parsebytes decodes the whole mail to one str (two bytes a character once one byte is
    8-bit) and wraps it in a StringIO, whose buffer holds four bytes a character: 5-9x the
    mail's size at once, the largest share of a big mail's memory. The feed parser itself
    is built for chunks (a line split between two is joined), and ASCII with
    surrogateescape decodes each byte alone, so the tree is the same."""
    parser = FeedParser(policy=compat32)
    if headers_only:
        parser._set_headersonly()  # type: ignore[attr-defined]  # what Parser.parse calls
    view = memoryview(data)
    for start in range(0, len(data), FEED_CHUNK):
        parser.feed(str(view[start : start + FEED_CHUNK], "ascii", "surrogateescape"))
    msg = parser.close()
    assert isinstance(msg, Message)
    return msg


# The header lines as the feed parser reads them (its headerRE, line by line; a line ends
# at CRLF, CR or LF), then the line that ends the block: a blank line, a body line the
# parser keeps, or the end of the data.
_HEAD_AND_END_LINE = re.compile(
    rb"(?:(?:From |[\x21-\x39\x3b-\x7e]*:|[\t ])[^\r\n]*(?:\r\n|\r|\n))*"
    rb"[^\r\n]*(?:\r\n|\r|\n)?"
)


def _single_part_tree(data: bytes) -> Message | None:
    """`_tree(data)` for a mail that is not multipart/* or message/* (None for those).

    The feed parser reads the body of such a mail line by line only to join the lines
    again (a deque entry and four calls per line: 1,100 lines in a 100 KB mail). Parsed
    alone, the header block and the line that ends it give the same headers, defects and
    pushed-back lines (headers-only mode differs only after that line); the rest of the
    data, decoded as the parser decodes it, is appended to the payload in one piece."""
    match = _HEAD_AND_END_LINE.match(data)
    end = match.end() if match else 0
    msg = _plain_header_tree(data[:end]) or _tree(data[:end], headers_only=True)
    if msg.get_content_maintype() in ("multipart", "message"):
        return None
    rest = str(memoryview(data)[end:], "ascii", "surrogateescape")
    # The ending line when it is a body line, or "" (the stored payload: get_payload()
    # would re-decode text with 8-bit bytes)
    kept = getattr(msg, "_payload", None) or ""
    msg.set_payload(kept + rest if kept else rest)
    return msg


# An everyday header block: named fields and their continuation lines, every line ending
# in CRLF, then the blank line. No envelope `From ` line, no line the feed parser reads
# as a defect, no lone CR or LF (its line splitting and str.splitlines differ on others).
_PLAIN_HEAD = re.compile(rb"(?:[\x21-\x39\x3b-\x7e]+:[^\r\n]*\r\n(?:[\t ][^\r\n]*\r\n)*)*\r\n")


def _plain_header_tree(head: bytes) -> Message | None:
    """`_tree(head, headers_only=True)` for a header block `_PLAIN_HEAD` matches whole,
    None for any other. Its fields are cut where the feed parser's `_parse_headers` cuts
    them and made by the same compat32 `header_source_parse`; nothing is left for the
    payload (""). Issue 20: the feed parser's line buffer, generator and per-line regexes
    cost ~20 us of a 2 KB mail's parse hot, several times that with the caches cold in
    the pipeline. test_single_part_tree compares the trees (edge cases, the corpus)."""
    if _PLAIN_HEAD.fullmatch(head) is None:
        return None
    msg = Message(policy=compat32)
    field: list[str] = []
    for line in str(head, "ascii", "surrogateescape").split("\r\n")[:-2]:
        if line[0] in " \t":  # a continuation: with its field, its line end kept
            field.append(line + "\r\n")
            continue
        if field:
            msg.set_raw(*compat32.header_source_parse(field))
        field = [line + "\r\n"]
    if field:
        msg.set_raw(*compat32.header_source_parse(field))
    msg.set_payload("")
    return msg


def header_tree(raw: bytes) -> Message:
    """The header fields of a mail as `BytesHeaderParser(policy=compat32)` reads them, from
    the header block alone: the body would cost what `_tree` avoids, to be thrown away."""
    blank = _BLANK_LINE.search(raw)
    return _tree(raw[: blank.end()] if blank else raw, headers_only=True)


def _parse(raw: bytes, limits: Limits, mail: ParsedMail, started: float) -> None:
    data, headers_only = _prepare(raw, limits, mail)
    msg: Message | None = None
    if not headers_only:
        try:
            msg = _single_part_tree(data) or _tree(data)
        except RecursionError:
            mail.notes.append("MIME structure nested too deeply for the parser: body not parsed")
            mail.truncated = True
    if msg is None:
        msg = _tree(data, headers_only=True)
        headers_only = True
    header_codec = fill_headers(msg, mail)
    if headers_only:
        return
    walk = Walk(limits=limits, deadline=started + limits.parse_seconds, mail=mail, raw=data,
                header_codec=header_codec)
    pieces = visit(walk, msg, 0)
    # Parts with more than white space ("not isspace", not "strip()", which copies a body)
    shown = [p for p in pieces if p.value() and not p.value().isspace()]
    body = "\n".join(t if t.endswith("\n") else t + "\n" for t in (p.value() for p in shown))
    # One newline convention for everything downstream; NUL never reaches a text column.
    mail.body = _lf(body).replace("\x00", "\ufffd")
    mail.body_from_html = any(p.from_html for p in shown)
    if walk.defects:
        mail.notes.append("defects: " + ", ".join(sorted(walk.defects)[:10]))


def parse_message(raw: bytes, limits: Limits | None = None) -> ParsedMail:
    """Parse a raw mail within `limits`. Never raises: failures become notes.

    Anything a cap cut short sets `truncated`; the caller keeps the raw bytes regardless.
    """
    started = time.monotonic()
    limits = limits or Limits()
    mail = ParsedMail()
    try:
        if not isinstance(raw, bytes):
            raw = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
        _parse(raw, limits, mail, started)
    except Exception as exc:
        mail.notes.append(f"parse failed: {type(exc).__name__}: {str(exc)[:200]}")
        mail.truncated = True
    return mail


def looks_like_mail(raw: bytes) -> bool:
    """False only for what is surely not a mail: known binary formats, or binary data
    without a header line. Headerless text is still mail to us (a body piped by hand)."""
    head = bytes(raw[:8192])
    if not head.strip():
        return False
    if head.startswith(_BINARY_MAGIC):
        return False
    if _PLAUSIBLE_HEADER.match(head.lstrip(b"\r\n")):
        return True
    controls = sum(head.count(bytes([c])) for c in range(32) if c not in (9, 10, 12, 13, 27))
    return b"\x00" not in head and controls * 20 < len(head)
