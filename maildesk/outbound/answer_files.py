"""An answer's files in the customer's mail: MIME parts, their names, and the size they make.

The customer gets the answer article's attachments as a mail client sends them: the text
first, then one `Content-Disposition: attachment` part per file, base64 so the bytes arrive
exactly as stored whatever they are (a text file's line ends, NULs, 8-bit), in a
`multipart/mixed`. A file name is hostile input (the agent's mail client, a browser, an API
caller chose it): it is cleaned as intake cleans names (one path component, no control or
bidi characters, at most 255 bytes) and written only as ASCII this module produces, RFC 2231
(`filename*=utf-8''...`, split into continuations of short lines) in Content-Disposition and
RFC 2047 encoded-words in Content-Type's `name` for older Outlook, so no name can reach the
header block as anything but a parameter value.

Size: an answer's mail may be at most `listen.max_message_size` (the size this instance
accepts; README "An answer's files"). `answer_size` estimates the wire size from the file
sizes before anything is built, so the web form and the API refuse with 413 and a mailed
answer fails its block (the transcript says why) instead of queueing a mail no relay takes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from email.message import Message
from typing import NamedTuple

from maildesk.config import Config
from maildesk.intake.filenames import safe_filename

__all__ = ["AnswerFile", "answer_size", "size_refusal", "with_files"]

# type/subtype as RFC 2045 tokens; anything else is sent as application/octet-stream
_MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,127}")
# RFC 2231 attribute-char without `*`, `'`, `%`: written as they are, the rest as %XX
_ATTR_CHAR = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                       b"!#$&+-.^_`|~")
# a name written as it is, quoted: letters, digits and a few marks, no `;` or `,`
_PLAIN = re.compile(r"[A-Za-z0-9._()+-][A-Za-z0-9 ._()+-]{0,59}")
_SEGMENT = 60  # characters of one filename*N* continuation: every header line stays short
_WORD_BYTES = 39  # UTF-8 bytes per RFC 2047 encoded-word: 52 base64 characters, 64 in all
_PART_OVERHEAD = 1024  # a part's boundary line and headers, generously (names <= 255 bytes)
_HEAD_OVERHEAD = 4096  # the mail's own header block and the text part's headers


class AnswerFile(NamedTuple):
    """One file of an answer, as stored with its article."""

    filename: str
    content_type: str
    data: bytes


def _base64_size(size: int) -> int:
    """Bytes of `size` bytes in base64 lines of 76 characters with CRLF."""
    chars = 4 * ((size + 2) // 3)
    return chars + 2 * ((chars + 75) // 76)


def answer_size(text: str, sizes: Iterable[int]) -> int:
    """An upper estimate of the answer's mail on the wire: the text quoted-printable (at
    most three bytes per byte, plus soft line breaks) and each file base64."""
    body = len(text.encode("utf-8"))
    files = list(sizes)
    if not files:
        return _HEAD_OVERHEAD + body
    text_size = min(3 * body, body + body // 2) + 3 * (body // 73 + 1)
    return (_HEAD_OVERHEAD + text_size
            + sum(_PART_OVERHEAD + _base64_size(size) for size in files))


def size_refusal(config: Config, text: str, sizes: Iterable[int]) -> str | None:
    """Why this answer cannot be mailed (too big for `listen.max_message_size`), or None.

    A mail the instance would not accept itself is not sent: relays commonly take no more
    (Postfix's 10 MB, Exchange's 25 MB), and the agent learns it now, not from a bounce."""
    files = list(sizes)
    if not files:
        return None
    limit = config.listen.max_message_size
    size = answer_size(text, files)
    if size <= limit:
        return None
    return (f"the files ({len(files)}, {_shown(sum(files))}) make the mail to the customer "
            f"about {_shown(size)}, over the {_shown(limit)} limit of mail here "
            f"(listen.max_message_size; files grow by a third in mail): send fewer or "
            f"smaller files, or a link to them")


def _shown(size: int) -> str:
    if size < 1_000_000:
        return f"{max(size / 1000, 1):.0f} kB"
    return f"{size / 1_000_000:.1f} MB"


def with_files(message: Message, files: Sequence[AnswerFile]) -> Message:
    """`message` (a text/plain mail from `render.build_message`) as multipart/mixed: its
    text first, then the files. Without files it is returned unchanged."""
    if not files:
        return message
    text = Message()
    for name in ("Content-Type", "Content-Transfer-Encoding"):
        value = message[name]
        del message[name]
        if value is not None:
            text[name] = value
    text.set_payload(message.get_payload())  # already encoded (quoted-printable)
    parts = [text] + [_part(f, n) for n, f in enumerate(files, 1)]
    message.set_payload(parts)  # type: ignore[arg-type]  # compat32: a list makes a multipart
    message["Content-Type"] = "multipart/mixed"  # the generator adds a boundary no part holds
    return message


def _part(file: AnswerFile, index: int) -> Message:
    name = header_filename(file.filename, index)
    part = Message()
    part["Content-Type"] = f"{_content_type(file.content_type)}; name={_encoded_words(name)}"
    part["Content-Disposition"] = f"attachment; {_rfc2231('filename', name)}"
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(base64.encodebytes(file.data).decode("ascii"))
    return part


def _content_type(value: str) -> str:
    """The stored type when it is a plain type/subtype a leaf part may have; a message/*
    or multipart/* file (a forwarded .eml) goes as bytes: RFC 2046 allows them no base64."""
    ctype = (value or "").strip().lower()
    if not _MIME_TYPE.fullmatch(ctype) or ctype.startswith(("multipart/", "message/")):
        return "application/octet-stream"
    return ctype


def header_filename(name: str, index: int) -> str:
    """The name as the customer's client saves it: cleaned as intake cleans names."""
    return safe_filename(name, f"attachment-{index}")


def _rfc2231(attribute: str, value: str) -> str:
    """`attribute="value"` for a short plain ASCII name, else RFC 2231's encoded form,
    split into numbered continuations of at most `_SEGMENT` characters."""
    if _PLAIN.fullmatch(value):
        return f'{attribute}="{value}"'
    encoded = ["".join(chr(b) if b in _ATTR_CHAR else f"%{b:02X}" for b in c.encode("utf-8"))
               for c in value]
    segments: list[str] = []
    current = "utf-8''"
    for piece in encoded:  # a character's %XX triplets are never split (some clients
        # decode each continuation alone)
        if len(current) + len(piece) > _SEGMENT:
            segments.append(current)
            current = ""
        current += piece
    segments.append(current)
    if len(segments) == 1:
        return f"{attribute}*={segments[0]}"
    return "; ".join(f"{attribute}*{n}*={s}" for n, s in enumerate(segments))


def _encoded_words(value: str) -> str:
    """A quoted parameter value; RFC 2047 encoded-words (whole characters each) when it is
    not plain ASCII, as Outlook and Gmail write `name`."""
    if _PLAIN.fullmatch(value):
        return f'"{value}"'
    words: list[str] = []
    chunk = b""
    for char in value:
        data = char.encode("utf-8")
        if chunk and len(chunk) + len(data) > _WORD_BYTES:
            words.append(chunk.decode("utf-8"))
            chunk = b""
        chunk += data
    if chunk:
        words.append(chunk.decode("utf-8"))
    encoded = (f"=?utf-8?b?{base64.b64encode(w.encode('utf-8')).decode('ascii')}?="
               for w in words)
    return '"' + " ".join(encoded) + '"'
