"""Templates to mail: Jinja2 bodies, and headers that mail content can never break.

Every header value passes `clean_header` (CR, LF, NUL and other line breaks become spaces)
and every address passes `check_address` before it reaches a header or an SMTP envelope:
Python 3.11's email package re-emits an encoded newline as a real one (CVE-2024-6923), and
aiosmtplib before 5.1.1 passed CR/LF in envelope addresses on to the server.

The templates themselves (Jinja2, by language) are outbound/templating.py's; their names
are exported here too.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.policy import compat32
from email.utils import format_datetime, formataddr
from functools import lru_cache

from maildesk.errors import InputError
from maildesk.outbound.qp import encode_text
from maildesk.outbound.templating import (
    SHIPPED_TEMPLATES,
    Texts,
    checked_once,
    environment,
    find_template,
    render_shared,
    render_text,
    template_languages,
)

__all__ = [
    "SHIPPED_TEMPLATES",
    "Texts",
    "WIRE",
    "InvalidAddress",
    "build_message",
    "check_address",
    "check_sender",
    "checked_once",
    "clean_header",
    "clean_message_id",
    "environment",
    "find_template",
    "message_parts",
    "new_message_id",
    "render_shared",
    "render_text",
    "template_languages",
]


class InvalidAddress(InputError):
    """An address that must not go into a header or an SMTP envelope."""


# dot-atom local part and a DNS host name: nothing else ever reaches a header or the relay.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")
# C0 controls, DEL, and what str.splitlines also treats as line breaks.
_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")  # marks, embeddings, isolates
_MSGID = re.compile(r"[!-;=?-~]{1,250}")  # printable ASCII without <, > and spaces


@lru_cache(maxsize=4096)
def check_address(address: str) -> str:
    """The address, lowercased domain, when it is one plain addr-spec; else InvalidAddress.
    A UTF-8 local part passes (a customer who wrote from one is answered with SMTPUTF8,
    `sender.py`); its domain is A-labels like every other.

    Cached (a pure function of the text; a refusal raises, which is never cached): every
    mail checks its queue's and agents' addresses again, in the ingest and in the sender."""
    from maildesk.addresses import AddressError, normalize

    try:  # the one grammar (maildesk.addresses): an IDN domain becomes its A-labels
        text = normalize(address or "", utf8=True)
    except AddressError as exc:
        raise InvalidAddress(f"not a deliverable address: {exc}") from None
    if not text.isascii():  # normalize checked the UTF-8 local part; the domain is ASCII
        local, _, domain = text.rpartition("@")
        if len(text.encode()) > 254 or not _ADDRESS.fullmatch("x@" + domain):
            raise InvalidAddress(f"not a deliverable address: {text[:80]!r}")
        return f"{local}@{domain.lower()}"
    if len(text) > 254 or not _ADDRESS.fullmatch(text):
        raise InvalidAddress(f"not a deliverable address: {text[:80]!r}")
    # The whole text matched: dot-atoms of atext, one "@", a host name. `parseaddr` gave
    # ("", text) for every such text (no atext character is one of its specials; there is
    # no space, quote, comment or second "@"), so its check, made here before issue 20,
    # refused nothing and is skipped (tests/outbound/test_render_address.py compares).
    local, _, domain = text.partition("@")
    return f"{local}@{domain.lower()}"


_TAG = re.compile(r"[0-9a-z-]+")  # a VERP tag: the outbox id and its base32 signature


def check_sender(address: str) -> str:
    """`check_address` of an envelope sender, cheaper for a VERP one (`base+tag@domain`,
    outbound/verp.py): unique per mail, so `check_address`'s cache never has it, and its
    parse cost the event loop more than the rest of the check. When the base is a valid
    address as it stands (cached: the same for every mail) and the tag is ASCII letters,
    digits and hyphens, the whole is valid as it stands too: the tag only lengthens the
    last atom of a dot-atom local part, and the length is checked. Anything else gets the
    full check, so the result and any refusal are `check_address`'s
    (tests/outbound/test_render_sender.py compares the two)."""
    local, _, domain = address.rpartition("@")
    base, plus, tag = local.rpartition("+")
    if plus and base and len(address) <= 254 and _TAG.fullmatch(tag) and address.isascii():
        plain = f"{base}@{domain}"
        try:
            if check_address(plain) == plain:
                return address
        except InvalidAddress:
            pass  # refused below, in check_address's words
    return check_address(address)


def clean_header(value: str | None, limit: int = 900) -> str:
    """One line of text: every control character and line break becomes a space; bidi
    controls (U+202E "gpj.exe" tricks in a display name or subject) are removed.

    Cached for values of up to 1 KiB (issue 20): a mail's subject and its extra headers'
    values (Auto-Submitted, X-Loop, ...) are cleaned again for each mail that carries them,
    at ingest and in the sender (~2.5 us a value, ~0.2 us a hit)."""
    if value and len(value) <= _CACHED_HEADER:
        return _clean_cached(value, limit)
    return _clean(value, limit)


_CACHED_HEADER = 1024


def _clean(value: str | None, limit: int) -> str:
    return " ".join(_BREAKS.sub(" ", _BIDI.sub("", value or "")).split())[:limit]


_clean_cached = lru_cache(maxsize=1024)(_clean)


def clean_message_id(value: str | None) -> str | None:
    """A Message-ID (without <>) safe to echo in In-Reply-To/References, or None."""
    text = (value or "").strip().strip("<>")
    return text if _MSGID.fullmatch(text) else None


def new_message_id(domain: str, prefix: str = "") -> str:
    """A fresh id (without <>) in the shape `classify` recognises as ours: `md-` + 16 hex.
    Short, so that with a reply token in front it still fits one header line."""
    return f"{prefix + '.' if prefix else ''}md-{secrets.token_hex(8)}@{domain}"


@lru_cache(maxsize=1024)
def _address(name: str, address: str) -> str:
    """`Name <addr>` with the name RFC 2047-encoded when it is not ASCII, quoted when it
    holds specials; the address itself passed `check_address`.

    Cached (a pure function of its text; a refusal raises, which is never cached): the
    queue's From and each agent's To come again in every mail of a sender's pass.

    A UTF-8 address is written as UTF-8 (RFC 6532; the mail then needs SMTPUTF8): as
    surrogate-escaped bytes, which the compat32 generator writes out untouched instead of
    RFC 2047-encoding the whole header (which would destroy the address)."""
    # check_sender is check_address (the same result, the same refusals), cheaper for a
    # plus-tagged address: a notification's Reply-To is one per ticket (issue 20).
    addr = check_sender(address)
    if addr.isascii():
        return formataddr((clean_header(name, 200), addr), charset="utf-8")
    shown = formataddr((clean_header(name, 200), "x@x"), charset="utf-8")
    text = addr if shown == "x@x" else shown[:-4] + addr + ">"
    return text.encode("utf-8").decode("ascii", "surrogateescape")


@lru_cache(maxsize=2)
def _date(second: int) -> str:
    """The Date header of a mail built in this second (what `format_datetime` writes for
    `datetime.now(UTC)`, which shows no fraction): made once per second, not per mail."""
    return format_datetime(datetime.fromtimestamp(second, UTC), usegmt=True)


def _text_header(value: str) -> str | Header:
    return value if value.isascii() else Header(value, "utf-8")


_BODY_CHARSET = Charset("utf-8")
_BODY_CHARSET.body_encoding = QP  # readable in any client, 7-bit safe for any relay
WIRE = compat32.clone(linesep="\r\n", max_line_length=78)


def build_message(
    *,
    from_name: str,
    from_addr: str,
    to: list[tuple[str, str]],
    subject: str,
    body: str,
    message_id: str,
    cc: list[tuple[str, str]] | None = None,
    reply_to: str | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    extra: dict[str, str] | None = None,
) -> Message:
    """An RFC 5322 message whose every header went through the cleaning above.

    Built with the compat32 classes: `EmailMessage` with `policy.SMTP` re-parses every
    header it is given, which cost more than the rest of an auto-response together. Safety
    does not depend on the policy: no value that reaches a header holds a line break."""
    headers, text = message_parts(
        from_name=from_name, from_addr=from_addr, to=to, subject=subject, body=body,
        message_id=message_id, cc=cc, reply_to=reply_to, in_reply_to=in_reply_to,
        references=references, extra=extra)
    msg: Message[str, str | Header] = Message()
    for name, value in headers:
        msg[name] = value
    if "Content-Type" in msg or "Content-Transfer-Encoding" in msg:  # an extra header set one
        msg.set_payload(text, _BODY_CHARSET)
    else:
        _set_text(msg, text)
    return msg


def message_parts(
    *,
    from_name: str,
    from_addr: str,
    to: list[tuple[str, str]],
    subject: str,
    body: str,
    message_id: str,
    cc: list[tuple[str, str]] | None = None,
    reply_to: str | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    extra: dict[str, str] | None = None,
) -> tuple[list[tuple[str, str | Header]], str]:
    """`build_message`'s headers, in order, cleaned, up to MIME-Version, and its text:
    what outbound/wire.py writes without building the `Message` (issue 20)."""
    headers: list[tuple[str, str | Header]] = [
        ("From", _address(from_name, from_addr)),
        ("To", ", ".join(_address(n, a) for n, a in to))]
    if cc:
        headers.append(("Cc", ", ".join(_address(n, a) for n, a in cc)))
    if reply_to:  # new per ticket and agent: past _address's cache when it is plain ASCII
        bare = check_sender(reply_to)  # (formataddr of no name is the address itself)
        headers.append(("Reply-To", bare if bare.isascii() else _address("", reply_to)))
    headers.append(("Subject", _text_header(clean_header(subject) or "(no subject)")))
    headers.append(("Date", _date(int(time.time()))))
    mid = clean_message_id(message_id)
    if mid is None:
        raise ValueError(f"bad Message-ID {message_id!r}")
    headers.append(("Message-ID", f"<{mid}>"))
    parent = clean_message_id(in_reply_to)
    if parent:
        headers.append(("In-Reply-To", f"<{parent}>"))
    refs = [r for r in (clean_message_id(x) for x in (references or [])) if r]
    if parent and parent not in refs:
        refs.append(parent)
    if refs:
        # RFC 5322 allows trimming the middle; keep the first and the latest ones.
        refs = refs[:1] + refs[1:][-19:] if len(refs) > 20 else refs
        headers.append(("References", " ".join(f"<{r}>" for r in refs)))
    for name, value in (extra or {}).items():
        headers.append((name, _text_header(clean_header(value))))
    headers.append(("MIME-Version", "1.0"))
    return headers, body if body.endswith("\n") else body + "\n"


def _set_text(msg: Message, text: str) -> None:
    """What `msg.set_payload(text, _BODY_CHARSET)` does to a message without MIME headers
    (tests/outbound/test_wire.py compares the two), with the encoding cached."""
    msg.add_header("Content-Type", "text/plain", charset="utf-8")
    msg.add_header("Content-Transfer-Encoding", "quoted-printable")
    msg.set_payload(_quoted_printable(text))
    msg._charset = _BODY_CHARSET  # type: ignore[attr-defined]  # as set_charset leaves it


@lru_cache(maxsize=8)
def _quoted_printable(text: str) -> str:
    """`text` as UTF-8 in quoted-printable, as the email package's charset encodes it.
    Cached: the notifications of one mail to each agent quote the same (up to 64 KiB)
    text, and the email package's pure-Python encoder costs ~1 ms per 64 KiB. Its text,
    made faster by outbound/qp.py (issue 20: 20.5 -> 14.5 us for a notification)."""
    return encode_text(text)
