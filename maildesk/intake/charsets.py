"""Charsets and header text: bytes in any declared (or undeclared) charset as text, RFC 2047
encoded words decoded in one linear pass (`email.header.decode_header` is quadratic on
thousands of encoded words), control characters out of every header value."""

from __future__ import annotations

import binascii
import codecs
import re
from functools import lru_cache

from mailparser.utils import decode_base64_payload

__all__ = ["CONTROL", "FOLD", "clean", "decode_header_value", "decode_text", "to_text"]

FOLD = re.compile(r"\r\n(?=[ \t])|\n(?=[ \t])|\r(?=[ \t])")
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,75})\?([qQbB])\?([^?]*)\?=")

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


def to_text(value: object) -> str:
    """A compat32 header value (str with surrogate-escaped 8-bit bytes) as real text."""
    if not isinstance(value, str):
        value = str(value)
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        data = value.encode("utf-8", "surrogateescape")
    return decode_text(data, None)[0]


def clean(text: str) -> str:
    """No CR, LF, NUL or other control characters: a header value stays one line forever."""
    return CONTROL.sub(" ", text).strip()


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
    text = FOLD.sub("", to_text(value))
    if "=?" not in text:
        return clean(text)
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
    return clean("".join(out))
