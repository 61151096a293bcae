"""Bounded parsing of one raw mail into a ParsedMail; never raises, for any bytes.

Structure comes from the standard `email` package with the legacy `compat32` policy: the
modern policy costs 16x per mail (research/perf.md) and its header parser is quadratic on
hostile input (gh-136063). compat32 does not protect us from everything, so the raw bytes
are measured first (header block size, boundary lines, parameter-header length) and the
parser is fed only what it can finish quickly; the tree walk then enforces the MIME depth,
part count, decoded size and wall-clock caps from `Limits`. RFC 2047 decoding is our own
linear loop (`email.header.decode_header` is quadratic on thousands of encoded words);
base64 goes through mail-parser's lenient decoder, which repairs padding the way mail
clients do and ignores bytes smuggled after the padding.
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import io
import re
import time
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import collapse_rfc2231_value, getaddresses
from functools import lru_cache

from mailparser.utils import decode_base64_payload, raw_payload

from maildesk.config import Limits
from maildesk.intake.filenames import safe_filename
from maildesk.intake.htmltext import MAX_HTML_CHARS, html_to_text
from maildesk.intake.message import Attachment, ParsedMail

__all__ = ["decode_header_value", "decode_text", "looks_like_mail", "parse_message"]

MAX_IDS = 100  # In-Reply-To / References entries kept (first one and the newest)
MAX_ID_LEN = 255  # longer ids are dropped: they cannot be indexed, dedupe uses the raw hash
MAX_ADDRESSES = 1000  # per address header kind
MAX_PARAM_HEADER = 16 * 1024  # compat32's parameter parser is quadratic in header length
BOUNDARY_SLACK = 4  # boundary-looking lines allowed per permitted part before we refuse

_PARSER = BytesParser(policy=compat32)

# One header line as email.feedparser recognises it, or a continuation line.
_HEADER_LINES = re.compile(
    rb"(?:From [^\r\n]*(?:\r\n|\n|\r))?"
    rb"(?:(?:[\x21-\x39\x3b-\x7e]*:|[ \t])[^\r\n]*(?:\r\n|\n|\r|\Z))*"
)
_BLANK_LINE = re.compile(rb"\n\r?\n|\r\r")
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
_FOLD = re.compile(r"\r\n(?=[ \t])|\n(?=[ \t])|\r(?=[ \t])")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,75})\?([qQbB])\?([^?]*)\?=")
_SIMPLE_PARAM = re.compile(r';\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]*))')
# One mailbox in its everyday forms: `addr`, `Name <addr>`, `"Name" <addr>` (no comments).
_SIMPLE_MAILBOX = re.compile(
    r'\s*(?:"((?:[^"\\\r\n]|\\.)*)"|([^",<>@:;()\\"\[\]]*?))\s*'
    r"<([^<>\s@\",;:()\[\]\\]+@[^<>\s@\",;:()\[\]\\]+)>\s*"
    r"|\s*([^<>\s@\",;:()\[\]\\]+@[^<>\s@\",;:()\[\]\\]+)\s*"
)
_LOOSE_ADDR = re.compile(r"[^\s<>()\[\],;:\"]{1,64}@[A-Za-z0-9.-]{1,255}")
_NEWLINES = re.compile(r"\r\n?")
_ANGLE_ID = re.compile(r"<([^<>]*)>")
_UU_BEGIN = re.compile(r"(?m)^begin [0-7]{3,4} ([^\r\n]+)\r?$")
_UU_END = re.compile(r"(?m)^end[ \t]*\r?$")

# Charset labels seen in real mail that Python does not know, or knows as a narrower set.
_CHARSET_ALIASES = {
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "x-unicode20utf8": "utf-8",
    "iso-8859-1": "cp1252",  # mail labelled latin-1 is in practice windows-1252 (WHATWG)
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "cp819": "cp1252",
    "iso-8859-9": "cp1254",
    "latin5": "cp1254",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "csgb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "big5": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "big5-hkscs": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "csshiftjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "csiso2022jp": "iso2022_jp_ext",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "euc-kr": "cp949",
    "korean": "cp949",
    "windows-949": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-8-e": "iso-8859-8",
    "visual": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-6-e": "iso-8859-6",
    "macintosh": "mac_roman",
    "x-mac-roman": "mac_roman",
}
# Labels that mean "we were not told": guess UTF-8, then windows-1252.
_GUESS = frozenset({"", "us-ascii", "ascii", "us", "ansi_x3.4-1968", "unknown-8bit", "default"})
# Python codecs that are not a charset a sender could mean.
_NOT_CHARSETS = frozenset(
    {
        "undefined",
        "idna",
        "punycode",
        "unicode_escape",
        "raw_unicode_escape",
        "mbcs",
        "oem",
        "charmap",
        "palmos",
    }
)

_EXTENSIONS = {
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "text/rfc822-headers": ".txt",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
}


# ---------------------------------------------------------------------------- charsets


@lru_cache(maxsize=256)
def _codec(label: str) -> str | None:
    """Python codec for a charset label; "" for guess-the-charset, None when unknown."""
    label = label.strip().strip("\"'").lower()
    if label in _GUESS:
        return ""
    name = _CHARSET_ALIASES.get(label, label)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if info.name in _NOT_CHARSETS or not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def decode_text(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Bytes in a declared charset as text, and a note when the charset was unusable.

    Undeclared or ASCII-declared 8-bit data is tried as UTF-8, then windows-1252 (never fails);
    a declared but unknown charset gives UTF-8 with U+FFFD replacement; a known charset with
    invalid bytes gives replacement characters.
    """
    codec = _codec(charset or "")
    if not codec:
        try:
            return data.decode("utf-8"), None
        except UnicodeDecodeError:
            pass
        if codec is None:
            return data.decode("utf-8", "replace"), f"unknown charset {charset!r}: replaced"
        return data.decode("cp1252", "replace"), None
    try:
        return data.decode(codec), None
    except UnicodeDecodeError:
        pass
    except Exception:  # some codecs raise other errors on hostile input
        return data.decode("utf-8", "replace"), f"charset {charset!r} failed: replaced"
    if codec == "iso2022_jp_ext":
        try:
            return data.decode("iso2022_jp_2"), None
        except Exception:
            pass
    try:
        return data.decode(codec, "replace"), None
    except Exception:
        return data.decode("utf-8", "replace"), f"charset {charset!r} failed: replaced"


def _to_text(value: object) -> str:
    """A compat32 header value (str with surrogate-escaped 8-bit bytes) as real text."""
    if not isinstance(value, str):
        value = str(value)
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        data = value.encode("utf-8", "surrogateescape")
    return decode_text(data, None)[0]


def _clean(text: str) -> str:
    """No CR, LF, NUL or other control characters: a header value stays one line forever."""
    return _CONTROL.sub(" ", text).strip()


def _decode_word(encoding: str, payload: str) -> bytes:
    data = payload.encode("utf-8", "replace")
    if encoding in "bB":
        try:
            return decode_base64_payload(payload)
        except (binascii.Error, ValueError):
            return data
    return binascii.a2b_qp(data, header=True)


def decode_header_value(value: object) -> str:
    """A header value unfolded, RFC 2047-decoded in any charset, free of control characters.

    Linear in the value's length: adjacent encoded words in one charset are decoded together
    (a multibyte character may span two words) and whitespace between them is dropped.
    """
    text = _FOLD.sub("", _to_text(value))
    if "=?" not in text:
        return _clean(text)
    out: list[str] = []
    pending = bytearray()
    pending_charset = ""
    pos = 0
    after_word = False

    def flush() -> None:
        if pending:
            out.append(decode_text(bytes(pending), pending_charset)[0])
            pending.clear()

    for m in _ENCODED_WORD.finditer(text):
        gap = text[pos : m.start()]
        if gap and not (after_word and gap.isspace()):
            flush()
            out.append(gap)
        charset = m.group(1).split("*", 1)[0].lower()
        if pending and charset != pending_charset:
            flush()
        pending += _decode_word(m.group(2), m.group(3))
        pending_charset = charset
        pos = m.end()
        after_word = True
    flush()
    out.append(text[pos:])
    return _clean("".join(out))


# ---------------------------------------------------------------------------- headers


class _Headers:
    """A part's raw headers by lowercase name, unfolded and as text on first use."""

    __slots__ = ("_raw",)

    def __init__(self, msg: Message) -> None:
        raw: dict[str, list[object]] = {}
        for key, value in msg.raw_items():
            raw.setdefault(key.lower(), []).append(value)
        self._raw = raw

    def all(self, name: str) -> list[str]:
        return [_FOLD.sub("", _to_text(v)) for v in self._raw.get(name, ())]

    def first(self, name: str) -> str | None:
        values = self._raw.get(name)
        return _FOLD.sub("", _to_text(values[0])) if values else None


def _param(header_text: str | None, name: str) -> str | None:
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
            parsed = getaddresses(values)
    except Exception:  # _parseaddr recurses once per ':' (corpus mimekit/stack-overflow.txt)
        mail.notes.append(f"{kind}: address list unparsable, addresses picked out loosely")
        parsed = [("", addr) for addr in _LOOSE_ADDR.findall(" ".join(values))]
    pairs: list[tuple[str, str]] = []
    for name, addr in parsed:
        addr = _CONTROL.sub("", addr).strip().lower()
        if "@" not in addr or " " in addr:
            continue
        pairs.append((name, addr))
        if len(pairs) >= MAX_ADDRESSES:
            mail.notes.append(f"{kind}: more than {MAX_ADDRESSES} addresses, rest ignored")
            mail.truncated = True
            break
    return pairs


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
        ident = "".join(_CONTROL.sub("", raw).split())
        if ident and len(ident) <= MAX_ID_LEN:
            ids.append(ident)
    return list(dict.fromkeys(ids))


def _cap_ids(ids: list[str], mail: ParsedMail, kind: str) -> list[str]:
    if len(ids) <= MAX_IDS:
        return ids
    mail.notes.append(f"{kind}: {len(ids)} ids, kept the first and the last {MAX_IDS - 1}")
    return [ids[0], *ids[-(MAX_IDS - 1) :]]


def _fill_headers(msg: Message, mail: ParsedMail) -> None:
    hdrs = _Headers(msg)
    mail.headers = [(_clean(_to_text(k)), decode_header_value(v)) for k, v in msg.raw_items()]
    mail.subject = mail.header("subject") or ""
    mail.date = mail.header("date")

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
        mail.from_name = decode_header_value(froms[0][0])
    elif len(froms) > 1:
        mail.notes.append(f"{len(froms)} From addresses: no single sender")
    mail.to = _unique_addrs(_addresses(hdrs.all("to"), mail, "To"))
    mail.cc = _unique_addrs(_addresses(hdrs.all("cc"), mail, "Cc"))
    mail.reply_to = _unique_addrs(_addresses(hdrs.all("reply-to"), mail, "Reply-To"))
    mail.content_type = msg.get_content_type()


# ---------------------------------------------------------------------------- structure


@dataclass
class _Piece:
    """Body text of one part. HTML is converted only when the piece is used: the HTML half
    of a multipart/alternative costs more to convert than the whole rest of the parse."""

    text: str
    from_html: bool
    html: str | None = None
    deadline: float | None = None

    def value(self) -> str:
        if self.html is not None:
            self.text = html_to_text(self.html, deadline=self.deadline)
            self.html = None
        return self.text


@dataclass
class _Walk:
    """Budgets shared by the whole tree walk."""

    limits: Limits
    deadline: float
    mail: ParsedMail
    parts: int = 0
    decoded: int = 0
    stopped: bool = False  # part, depth or time cap: walk no further
    no_decode: bool = False  # decoded-size cap: decode nothing more
    defects: set[str] = field(default_factory=set)

    def note(self, text: str) -> None:
        self.mail.notes.append(text)
        self.mail.truncated = True

    def charge(self, size: int) -> bool:
        """Reserve decoded bytes; False (and a note, once) when the cap would be passed."""
        if self.no_decode:
            return False
        if self.decoded + size > self.limits.max_decoded_bytes:
            self.no_decode = True
            self.note(
                f"decoded size cap ({self.limits.max_decoded_bytes} bytes) reached: "
                "further parts not decoded"
            )
            return False
        self.decoded += size
        return True


def _payload_bytes(part: Message) -> bytes:
    """The part's body with its transfer encoding undone (base64, quoted-printable, uu)."""
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte == "base64":
        payload = raw_payload(part)  # mail-parser's: survives charsets that refuse to decode
        if isinstance(payload, str):
            try:
                return decode_base64_payload(payload)
            except (binascii.Error, ValueError):
                return payload.encode("ascii", "ignore")
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _flatten(msg: Message) -> bytes:
    buf = io.BytesIO()
    BytesGenerator(buf, mangle_from_=False, maxheaderlen=0).flatten(msg)
    return buf.getvalue()


def _encoded_size(part: Message) -> int:
    # The stored payload, not get_payload(): that decodes 8-bit text with the declared
    # charset first, which costs time and raises for charsets like "undefined".
    payload = getattr(part, "_payload", None)
    if isinstance(payload, str):
        return len(payload)
    return 0


def _add_attachment(
    walk: _Walk, hdrs: _Headers, ctype: str, data: bytes, name: str | None, index: int
) -> None:
    ext = _EXTENSIONS.get(ctype, ".bin")
    cid_raw = hdrs.first("content-id")
    cid = None
    if cid_raw:
        cid = _clean(cid_raw).strip("<>").strip()[:MAX_ID_LEN] or None
    walk.mail.attachments.append(
        Attachment(
            filename=safe_filename(name, f"part-{index}{ext}"),
            content_type=ctype,
            data=data,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            content_id=cid,
        )
    )


def _part_filename(hdrs: _Headers) -> str | None:
    name = _param(hdrs.first("content-disposition"), "filename")
    if not name:
        name = _param(hdrs.first("content-type"), "name")
    if not name:
        return None
    return decode_header_value(name) if "=?" in name else _clean(name)


def _leaf(walk: _Walk, part: Message, ctype: str) -> list[_Piece]:
    index = walk.parts
    hdrs = _Headers(part)
    disposition = (hdrs.first("content-disposition") or "").split(";", 1)[0]
    disposition = disposition.strip().lower()
    filename = _part_filename(hdrs)
    is_text = ctype in ("text/plain", "text/html")
    if not walk.charge(_encoded_size(part)):
        return []
    data = _payload_bytes(part)
    if is_text and disposition != "attachment" and not filename:
        charset = _param(hdrs.first("content-type"), "charset")
        text, note = decode_text(data, charset)
        if note:
            walk.mail.notes.append(note)
        if ctype == "text/html":
            if len(text) > MAX_HTML_CHARS:
                walk.note(f"HTML body longer than {MAX_HTML_CHARS} characters: cut")
            return [_Piece("", True, html=text, deadline=walk.deadline)]
        return [_Piece(_extract_uuencoded(walk, text), False)]
    _add_attachment(walk, hdrs, ctype, data, filename, index)
    return []


def _extract_uuencoded(walk: _Walk, text: str) -> str:
    """Inline `begin 644 name` ... `end` blocks (old clients) become attachments."""
    if "begin " not in text:
        return text
    out: list[str] = []
    pos = 0
    for _ in range(20):
        begin = _UU_BEGIN.search(text, pos)
        if not begin:
            break
        end = _UU_END.search(text, begin.end())
        if not end:
            break
        data = bytearray()
        for line in text[begin.end() : end.start()].splitlines():
            raw = line.strip("\r").encode("latin-1", "replace")
            if not raw:
                continue
            try:
                data += binascii.a2b_uu(raw)
            except binascii.Error:
                try:  # trailing garbage from broken encoders, as email.message does
                    data += binascii.a2b_uu(raw[: (((raw[0] - 32) & 63) * 4 + 5) // 3])
                except binascii.Error:
                    continue
        if not walk.charge(len(data)):
            break
        out.append(text[pos : begin.start()])
        _add_attachment(
            walk,
            _Headers(Message()),
            "application/octet-stream",
            bytes(data),
            begin.group(1).strip(),
            walk.parts,
        )
        pos = end.end()
    out.append(text[pos:])
    return "".join(out)


def _message_part(walk: _Walk, part: Message, ctype: str) -> None:
    """A forwarded message, DSN status or MDN: one attachment, never part of the body."""
    index = walk.parts
    payload = part.get_payload() if part.is_multipart() else None
    try:
        if isinstance(payload, list):
            data = b"\n".join(_flatten(sub) for sub in payload if isinstance(sub, Message))
        else:
            data = _payload_bytes(part)
    except RecursionError:
        walk.note("forwarded message nested too deeply to store as an attachment")
        return
    except Exception as exc:
        walk.mail.notes.append(f"message part {index} not extracted: {type(exc).__name__}")
        return
    if not walk.charge(len(data)):
        return
    hdrs = _Headers(part)
    name = _part_filename(hdrs)
    if not name and ctype in ("message/rfc822", "message/global") and isinstance(payload, list):
        inner = payload[0] if payload else None
        subject = (decode_header_value(inner.get("subject", ""))
                   if isinstance(inner, Message) else "")
        subject = subject.replace("/", "_").replace("\\", "_")[:120]
        name = f"{subject}.eml" if subject else "forwarded-message.eml"
    _add_attachment(walk, hdrs, ctype, data, name, index)


def _visit(walk: _Walk, part: Message, depth: int) -> list[_Piece]:
    """Body pieces of a subtree; attachments are collected on the way. Bounded by the caps."""
    if walk.stopped:
        return []
    walk.parts += 1
    if walk.parts > walk.limits.max_parts:
        walk.stopped = True
        walk.note(f"more than {walk.limits.max_parts} MIME parts: rest not read")
        return []
    if time.monotonic() > walk.deadline:
        walk.stopped = True
        walk.note(f"parse time budget ({walk.limits.parse_seconds}s) spent: rest not read")
        return []
    if depth > walk.limits.max_mime_depth:
        walk.note(f"MIME nesting deeper than {walk.limits.max_mime_depth}: subtree skipped")
        return []
    walk.defects.update(type(d).__name__ for d in getattr(part, "defects", ()))
    ctype = part.get_content_type()
    maintype = ctype.split("/", 1)[0]
    if maintype == "message":
        _message_part(walk, part, ctype)
        return []
    if maintype != "multipart":
        return _leaf(walk, part, ctype)
    if not part.is_multipart():  # declared multipart, no usable boundary
        return _leaf(walk, part, "text/plain")
    children = [c for c in part.get_payload() if isinstance(c, Message)]
    if ctype == "multipart/alternative":
        options = [_visit(walk, child, depth + 1) for child in children]
        for wanted in (False, True):
            for option in options:
                if (
                    option
                    and all(p.from_html == wanted for p in option)
                    and any(p.value().strip() for p in option)
                ):
                    return option
        return next((p for p in options if p), [])
    pieces: list[_Piece] = []
    for child in children:
        pieces.extend(_visit(walk, child, depth + 1))
    return pieces


# ---------------------------------------------------------------------------- entry points


def _header_end(raw: bytes, limit: int | None = None) -> int:
    m = _HEADER_LINES.match(raw, 0, len(raw) if limit is None else limit)
    return m.end() if m else 0


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
    if _LONG_PARAM_HEADER.search(data):
        mail.notes.append(
            f"Content-Type/-Disposition longer than {MAX_PARAM_HEADER} bytes: body not parsed"
        )
        mail.truncated = True
        return data, True
    if _MULTIPART_HINT.search(data):
        lines = data.count(b"\n--") + data.count(b"\r--")  # LF or CRLF, and CR-only
        if lines > limits.max_parts * BOUNDARY_SLACK:
            mail.notes.append(
                f"{lines} boundary-like lines (cap {limits.max_parts} parts): body not parsed"
            )
            mail.truncated = True
            return data, True
    return data, False


def _parse(raw: bytes, limits: Limits, mail: ParsedMail, started: float) -> None:
    data, headers_only = _prepare(raw, limits, mail)
    msg: Message | None = None
    if not headers_only:
        try:
            msg = _PARSER.parsebytes(data)
        except RecursionError:
            mail.notes.append("MIME structure nested too deeply for the parser: body not parsed")
            mail.truncated = True
    if msg is None:
        msg = _PARSER.parsebytes(data, headersonly=True)
        headers_only = True
    _fill_headers(msg, mail)
    if headers_only:
        return
    walk = _Walk(limits=limits, deadline=started + limits.parse_seconds, mail=mail)
    pieces = _visit(walk, msg, 0)
    texts = [p.value() for p in pieces if p.value().strip()]
    body = "\n".join(t if t.endswith("\n") else t + "\n" for t in texts)
    # One newline convention for everything downstream; NUL never reaches a text column.
    mail.body = _NEWLINES.sub("\n", body).replace("\x00", "\ufffd")
    mail.body_from_html = any(p.from_html for p in pieces if p.value().strip())
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
