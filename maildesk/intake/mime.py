"""The MIME tree walk: body pieces and attachments of a parsed message, within the MIME
depth, part count, decoded size and wall-clock caps of `Limits`. Base64 goes through
mail-parser's lenient decoder, which repairs padding the way mail clients do and ignores
bytes smuggled after the padding."""

from __future__ import annotations

import binascii
import hashlib
import io
import re
import time
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from email.message import Message

from mailparser.utils import raw_payload

from maildesk.config import Limits
from maildesk.intake.charsets import clean, decode_header_value, decode_text
from maildesk.intake.filenames import safe_filename
from maildesk.intake.headers import MAX_ID_LEN, Headers, param
from maildesk.intake.htmltext import MAX_HTML_CHARS, html_to_text
from maildesk.intake.message import Attachment, ParsedMail
from maildesk.intake.rawparts import (
    IDENTITY_ENCODINGS,
    b64decode_lenient,
    child_bodies,
    uudecode,
)

__all__ = ["Piece", "Walk", "visit"]

_UU_BEGIN = re.compile(r"(?m)^begin [0-7]{3,4} ([^\r\n]+)\r?$")
_UU_END = re.compile(r"(?m)^end[ \t]*\r?$")

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


@dataclass
class Piece:
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
class Walk:
    """Budgets shared by the whole tree walk."""

    limits: Limits
    deadline: float
    mail: ParsedMail
    raw: bytes = b""  # what the parser was given: forwarded messages are sliced from it
    header_codec: str = "cp1252"  # for raw 8-bit part headers (fill_headers' guess)
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
    if cte in ("x-uuencode", "uuencode", "x-uue", "uue"):
        payload = getattr(part, "_payload", None)
        if isinstance(payload, str):
            return uudecode(payload.encode("latin-1", "replace"))
    if cte == "base64":
        payload = raw_payload(part)  # mail-parser's: survives charsets that refuse to decode
        if isinstance(payload, str):
            try:
                return b64decode_lenient(payload)
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
    walk: Walk, hdrs: Headers, ctype: str, data: bytes, name: str | None, index: int
) -> None:
    ext = _EXTENSIONS.get(ctype, ".bin")
    cid_raw = hdrs.first("content-id")
    cid = None
    if cid_raw:
        cid = clean(cid_raw).strip("<>").strip()[:MAX_ID_LEN] or None
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


def _part_filename(hdrs: Headers) -> str | None:
    name = param(hdrs.first("content-disposition"), "filename")
    if not name:
        name = param(hdrs.first("content-type"), "name")
    if not name:
        return None
    return decode_header_value(name) if "=?" in name else clean(name)


def _leaf(walk: Walk, part: Message, ctype: str) -> list[Piece]:
    index = walk.parts
    hdrs = Headers(part, walk.header_codec)
    disposition = (hdrs.first("content-disposition") or "").split(";", 1)[0]
    disposition = disposition.strip().lower()
    filename = _part_filename(hdrs)
    is_text = ctype in ("text/plain", "text/html")
    if not walk.charge(_encoded_size(part)):
        return []
    data = _payload_bytes(part)
    part._payload = None  # type: ignore[attr-defined]  # decoded: the tree's copy of a big part goes now, not after the walk
    if is_text and disposition != "attachment" and not filename:
        charset = param(hdrs.first("content-type"), "charset")
        text, note = decode_text(data, charset)
        if note:
            walk.mail.notes.append(note)
        if ctype == "text/html":
            if len(text) > MAX_HTML_CHARS:
                walk.note(f"HTML body longer than {MAX_HTML_CHARS} characters: cut")
            return [Piece("", True, html=text, deadline=walk.deadline)]
        return [Piece(_extract_uuencoded(walk, text), False)]
    _add_attachment(walk, hdrs, ctype, data, filename, index)
    return []


_LONG_TEXT = 16384  # characters from which re finds a line's `begin ` faster than `in`
_UU_LINE = re.compile(r"\nbegin ")


def _uu_line(text: str) -> bool:
    """Whether a line after the first begins with `begin `: str's search steps a character
    at a time through English text (the needle's letters are everywhere), re's literal
    search skips to each line break (100 KB: 61 -> 40 us; a short text pays re's call)."""
    if len(text) < _LONG_TEXT:
        return "\nbegin " in text
    return _UU_LINE.search(text) is not None


def _extract_uuencoded(walk: Walk, text: str) -> str:
    """Inline `begin 644 name` ... `end` blocks (old clients) become attachments."""
    if not text.startswith("begin ") and not _uu_line(text):  # where _UU_BEGIN's ^ is
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
            Headers(Message()),
            "application/octet-stream",
            bytes(data),
            begin.group(1).strip(),
            walk.parts,
        )
        pos = end.end()
    out.append(text[pos:])
    return "".join(out)


def _message_part(walk: Walk, part: Message, ctype: str, raw_body: bytes | None) -> None:
    """A forwarded message, DSN status or MDN: one attachment, never part of the body;
    `raw_body` is its bytes as sent, when they could be sliced from the raw mail."""
    index = walk.parts
    payload = part.get_payload() if part.is_multipart() else None
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    try:
        if raw_body is not None and cte in IDENTITY_ENCODINGS:
            data = raw_body
        elif isinstance(payload, list):
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
    hdrs = Headers(part, walk.header_codec)
    name = _part_filename(hdrs)
    if not name and ctype in ("message/rfc822", "message/global") and isinstance(payload, list):
        inner = payload[0] if payload else None
        # raw_items: get() wraps 8-bit values in a Header that decodes them as U+FFFD
        subject = (decode_header_value(Headers(inner, walk.header_codec).first("subject")
                                       or "", walk.header_codec)
                   if isinstance(inner, Message) else "")
        subject = subject.replace("/", "_").replace("\\", "_")[:120]
        name = f"{subject}.eml" if subject else "forwarded-message.eml"
    _add_attachment(walk, hdrs, ctype, data, name, index)


def visit(walk: Walk, part: Message, depth: int, raw_body: bytes | None = None
          ) -> list[Piece]:
    """Body pieces of a subtree; attachments are collected on the way. Bounded by the caps.
    `raw_body` is the part's body as sent, known when the part is a multipart's child."""
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
        _message_part(walk, part, ctype, raw_body)
        return []
    if maintype != "multipart":
        return _leaf(walk, part, ctype)
    if not part.is_multipart():  # declared multipart, no usable boundary
        return _leaf(walk, part, "text/plain")
    children = [c for c in part.get_payload() if isinstance(c, Message)]
    if ctype == "multipart/alternative":
        options = [visit(walk, child, depth + 1) for child in children]
        for wanted in (False, True):
            for option in options:
                if (
                    option
                    and all(p.from_html == wanted for p in option)
                    and any(p.value().strip() for p in option)
                ):
                    return option
        return next((p for p in options if p), [])
    raws: list[bytes | None] = [None] * len(children)
    boundary = part.get_boundary()
    if boundary and any(c.get_content_maintype() == "message" for c in children):
        raws = list(child_bodies(walk.raw, boundary, len(children)) or raws)
    pieces: list[Piece] = []
    for child, raw in zip(children, raws, strict=True):
        pieces.extend(visit(walk, child, depth + 1, raw))
    return pieces
