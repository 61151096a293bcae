"""One address grammar for the config, intake and outbound mail.

An address is one bare addr-spec. Its domain may be internationalised: it is kept and
compared in its ASCII form (IDNA 2008 A-labels, `bücher.example` -> `xn--bcher-kva.example`),
which every relay and DNS take. A local part outside ASCII (`josé@example.es`, RFC 6531)
needs SMTPUTF8 end to end: such an address is refused where it is configured
(`check-config`: maildesk's own addresses stay ASCII), but a customer who writes from one
is answered: `normalize(..., utf8=True)` takes it, and the sender uses SMTPUTF8 when the
relay offers it, else fails the mail permanently with that reason (as Postfix does with
`smtputf8_enable`).
"""

from __future__ import annotations

import re
import unicodedata

import idna

from maildesk.errors import InputError

__all__ = ["AddressError", "ascii_domain", "needs_smtputf8", "normalize"]

# RFC 5322 dot-atom of atext, or a quoted string without controls; ASCII only.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*|\"[\x20\x21\x23-\x5b\x5d-\x7e]*\"")
# RFC 6531 3.3: atext extended by UTF8-non-ascii (no C1 controls, no surrogates).
_UATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u00a0-\ud7ff\ue000-\U0010ffff-]+"
_ULOCAL = re.compile(rf"{_UATOM}(?:\.{_UATOM})*")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_LITERAL = re.compile(r"\[[0-9A-Fa-f:.]+\]")


class AddressError(InputError):
    """Not an address maildesk can receive for or send to; the message says why."""


def ascii_domain(domain: str) -> str:
    """The domain in lowercase ASCII: A-labels for internationalised labels."""
    text = domain.strip().rstrip(".")
    if _LITERAL.fullmatch(text):
        return text
    if not text.isascii():
        try:
            text = idna.encode(text, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise AddressError(f"not a valid internationalised domain {domain!r}: {exc}") \
                from None
    text = text.lower()
    labels = text.split(".")
    if len(text) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise AddressError(f"not a valid domain: {domain!r}")
    return text


def needs_smtputf8(address: str) -> bool:
    """Whether sending to (or from) this normalized address needs SMTPUTF8."""
    return not address.isascii()


def normalize(address: str, *, utf8: bool = False) -> str:
    """`local@domain` with the domain in lowercase ASCII (the local part as written);
    AddressError when it is not one plain address, or its local part is not ASCII (unless
    `utf8`: a recipient's UTF-8 local part, sent with SMTPUTF8, NFC as RFC 6532 asks)."""
    text = (address or "").strip()
    if "@" not in text or any(c in text for c in "<>,\r\n\t") or " " in text.split('"')[0]:
        raise AddressError(f"must be a single bare address like support@example.com, "
                           f"not {text[:80]!r}")
    local, _, domain = text.rpartition("@")
    if not local.isascii() and utf8:
        local = unicodedata.normalize("NFC", local)
        if not _ULOCAL.fullmatch(local):
            raise AddressError(f"not a valid address: {text[:80]!r}")
    elif not local.isascii():
        raise AddressError(f"{text[:80]!r}: a local part outside ASCII needs SMTPUTF8, and "
                           "maildesk's own addresses must work without it: use an ASCII address")
    # No 64-octet cap on the local part (RFC 5321 4.5.3.1.1): Postfix does not enforce
    # it either, and an address accepted at intake must stay answerable.
    if local.isascii() and not _LOCAL.fullmatch(local):
        raise AddressError(f"not a valid address: {text[:80]!r}")
    result = f"{local}@{ascii_domain(domain)}"
    if len(result) > 254:
        raise AddressError(f"address too long: {text[:80]!r}")
    return result
