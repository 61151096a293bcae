"""Templates to mail: Jinja2 bodies, and headers that mail content can never break.

Every header value passes `clean_header` (CR, LF, NUL and other line breaks become spaces)
and every address passes `check_address` before it reaches a header or an SMTP envelope:
Python 3.11's email package re-emits an encoded newline as a real one (CVE-2024-6923), and
aiosmtplib before 5.1.1 passed CR/LF in envelope addresses on to the server.

Templates live in `<lang>/<audience>/<purpose>.txt`; a folder named by `templates:` in
the config overrides the shipped ones file by file. A missing language falls back to the
instance default, then to English.
"""

from __future__ import annotations

import re
import secrets
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from email import quoprimime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.policy import compat32
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.runtime
from jinja2.sandbox import SandboxedEnvironment

from maildesk.config import Config
from maildesk.errors import InputError

__all__ = [
    "SHIPPED_TEMPLATES",
    "Texts",
    "WIRE",
    "InvalidAddress",
    "build_message",
    "check_address",
    "check_sender",
    "clean_header",
    "clean_message_id",
    "environment",
    "find_template",
    "new_message_id",
    "render_shared",
    "render_text",
    "template_languages",
]


def _shipped() -> Path:
    """`maildesk/templates`: package data, so a plain `pip install .` ships it too."""
    return Path(__file__).resolve().parents[1] / "templates"


SHIPPED_TEMPLATES = _shipped()


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
    name, parsed = parseaddr(text)
    if name or parsed != text or text.count("@") != 1:
        raise InvalidAddress(f"not a deliverable address: {text[:80]!r}")
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
    controls (U+202E "gpj.exe" tricks in a display name or subject) are removed."""
    return " ".join(_BREAKS.sub(" ", _BIDI.sub("", value or "")).split())[:limit]


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
    addr = check_address(address)
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
    msg: Message[str, str | Header] = Message()
    msg["From"] = _address(from_name, from_addr)
    msg["To"] = ", ".join(_address(n, a) for n, a in to)
    if cc:
        msg["Cc"] = ", ".join(_address(n, a) for n, a in cc)
    if reply_to:
        msg["Reply-To"] = _address("", reply_to)
    msg["Subject"] = _text_header(clean_header(subject) or "(no subject)")
    msg["Date"] = _date(int(time.time()))
    mid = clean_message_id(message_id)
    if mid is None:
        raise ValueError(f"bad Message-ID {message_id!r}")
    msg["Message-ID"] = f"<{mid}>"
    parent = clean_message_id(in_reply_to)
    if parent:
        msg["In-Reply-To"] = f"<{parent}>"
    refs = [r for r in (clean_message_id(x) for x in (references or [])) if r]
    if parent and parent not in refs:
        refs.append(parent)
    if refs:
        # RFC 5322 allows trimming the middle; keep the first and the latest ones.
        refs = refs[:1] + refs[1:][-19:] if len(refs) > 20 else refs
        msg["References"] = " ".join(f"<{r}>" for r in refs)
    for name, value in (extra or {}).items():
        msg[name] = _text_header(clean_header(value))
    msg["MIME-Version"] = "1.0"
    text = body if body.endswith("\n") else body + "\n"
    if "Content-Type" in msg or "Content-Transfer-Encoding" in msg:  # an extra header set one
        msg.set_payload(text, _BODY_CHARSET)
    else:
        _set_text(msg, text)
    return msg


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
    text, and the email package's pure-Python encoder costs ~1 ms per 64 KiB."""
    return quoprimime.body_encode(text.encode("utf-8").decode("latin1"))


_SEEN: ContextVar[set[str] | None] = ContextVar("maildesk_template_names", default=None)
_MISSING = object()


class _Noting(jinja2.runtime.Context):
    """A mail template's context that notes every name the template (and what it
    includes) looks up, while `render_shared` listens."""

    def resolve_or_missing(self, key: str) -> Any:
        seen = _SEEN.get()
        if seen is not None:
            seen.add(key)
        return super().resolve_or_missing(key)


@lru_cache(maxsize=8)
def _environment(override: Path | None, shipped: Path) -> SandboxedEnvironment:
    folders = [str(p) for p in (override, shipped) if p is not None]
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(folders),
        autoescape=False,  # plain-text mail; no HTML is ever rendered
        undefined=jinja2.ChainableUndefined,  # an organisation's template may be sloppy
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.context_class = _Noting
    return env


def environment(config: Config) -> SandboxedEnvironment:
    """The Jinja2 environment for this config: its `templates:` folder first, then ours.

    Sandboxed, because template authors are admins, not Python programmers: a template can
    read the plain values it is given and nothing behind them."""
    return _environment(config.templates, SHIPPED_TEMPLATES)


def template_languages(config: Config, language: str | None) -> list[str]:
    """The fall-back chain: `de-AT` → `de` → the instance default → `en`."""
    chain: list[str] = []
    for lang in (language, (language or "").replace("_", "-").split("-")[0],
                 config.instance.default_language, "en"):
        if lang and lang.lower() not in chain:
            chain.append(lang.lower())
    return chain


def find_template(config: Config, name: str, language: str | None) -> jinja2.Template:
    """`<lang>/<name>` for the first language in the chain that has it, compiled (Jinja2
    caches it): TemplateNotFound or TemplateSyntaxError here, not when it is rendered."""
    names = [f"{lang}/{name}" for lang in template_languages(config, language)]
    return environment(config).select_template(names)


def render_text(config: Config, name: str, language: str | None, /,
                **context: object) -> str:
    """Render `<lang>/<name>` for the first language in the chain that has it."""
    names = [f"{lang}/{name}" for lang in template_languages(config, language)]
    template = find_template(config, name, language)
    # `folder` lets a template include its siblings in the language it was found in.
    folder = (template.name or names[-1]).split("/", 1)[0]
    # `web`: the branding (web.title, web.base_url) of every customer mail's signature.
    return template.render(**{"folder": folder, "web": config.web, **context})


class Texts:
    """The bodies `render_shared` made in one sender pass: per template and language, the
    compiled template, the values of the names it read, and the text."""

    def __init__(self) -> None:
        self.done: dict[tuple[str, str, object],
                        list[tuple[jinja2.Template, dict[str, Any], str]]] = {}
        self.reused = 0
        # per template and language, the template found: looked up once a pass, not per
        # mail (Jinja2 stats the file for every lookup, to see whether it changed)
        self.found: dict[tuple[str, str | None], jinja2.Template] = {}


def _same(a: object, b: object) -> bool:
    """Equal and of the same types all the way down (1, 1.0 and True render apart)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return list(a) == list(b) and all(_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list | tuple):
        assert isinstance(b, list | tuple)
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def render_shared(config: Config, name: str, language: str | None,
                  context: dict[str, Any], texts: Texts, group: object = None) -> str:
    """`render_text`, reusing a text of `texts` whose render read the same values: the
    notifications of one mail to several agents differ in values the shipped templates do
    not show (the agent, the reply address), so the body is rendered once for all of them.

    Sound for any template: what it writes depends only on the values of the names it
    looks up (the context notes them, in what it includes too), so a context with the same
    values for those names renders the same text, branch for branch. A template that reads
    the agent gets a text per agent. `group` (hashable): only texts of the same group are
    compared (the mails of one ticket and article), so a pass of many mails compares each
    with a few, not with all."""
    template = texts.found.get((name, language))
    if template is None:
        template = texts.found[name, language] = find_template(config, name, language)
    folder = (template.name or f"en/{name}").split("/", 1)[0]
    values = {"folder": folder, "web": config.web, **context}
    key = (name, language or "", group)
    for done, seen, text in texts.done.get(key, ()):
        if done is template and all(_same(values.get(n, _MISSING), v)
                                    for n, v in seen.items()):
            texts.reused += 1
            return text
    noted: set[str] = set()
    token = _SEEN.set(noted)
    try:
        text = template.render(**values)
    finally:
        _SEEN.reset(token)
    seen = {n: values.get(n, _MISSING) for n in noted}
    texts.done.setdefault(key, []).append((template, seen, text))
    return text
