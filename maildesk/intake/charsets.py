"""Charsets and header text: bytes in any declared (or undeclared) charset as text, RFC 2047
encoded words decoded in one linear pass (`email.header.decode_header` is quadratic on
thousands of encoded words), control characters out of every header value."""

from __future__ import annotations

import binascii
import codecs
import re
from functools import lru_cache

from mailparser.utils import decode_base64_payload

__all__ = [
    "CONTROL",
    "FOLD",
    "clean",
    "decode_header_value",
    "decode_text",
    "guess_cjk",
    "header_charset",
    "iso2022jp_via_cp932",
    "to_text",
    "unfold",
]

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

    Undeclared or ASCII-declared 8-bit data is tried as UTF-8, then as GB18030 / Shift_JIS /
    EUC-JP / EUC-KR / Big5 when it is surely one of them, then windows-1252 (never fails);
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
        guessed = guess_cjk(data)  # undeclared East Asian text, as the peers guess it
        return data.decode(guessed or "cp1252", "replace"), None
    try:
        return data.decode(codec), None
    except UnicodeDecodeError:
        pass
    except Exception:  # some codecs raise other errors on hostile input
        return data.decode("utf-8", "replace"), f"charset {charset!r} failed: replaced"
    if codec == "iso2022_jp_ext":
        for decode in (lambda d: d.decode("iso2022_jp_2"), iso2022jp_via_cp932):
            try:
                return decode(data), None
            except (UnicodeDecodeError, ValueError):
                pass
    guessed = guess_cjk(data)  # a mislabelled part (Shift_JIS labelled ISO-2022-JP)
    if guessed:
        return data.decode(guessed), None
    try:
        return data.decode(codec, "replace"), None
    except Exception:
        return data.decode("utf-8", "replace"), f"charset {charset!r} failed: replaced"


def to_text(value: object, fallback: str = "cp1252") -> str:
    """A compat32 header value (str with surrogate-escaped 8-bit bytes) as real text: UTF-8,
    else `fallback` (the mail's guessed header charset, `header_charset`), else
    windows-1252, which never fails."""
    if not isinstance(value, str):
        value = str(value)
    if value.isascii():  # most header values: no copy made to find out
        return value
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if fallback != "cp1252":
        try:
            return data.decode(fallback)
        except UnicodeDecodeError:
            pass
    return data.decode("cp1252", "replace")


def raw_bytes(value: object) -> bytes | None:
    """The 8-bit bytes of a compat32 header value, None when it is plain text."""
    text = value if isinstance(value, str) else str(value)
    if text.isascii():  # most values: no UTF-8 copy made to find out
        return None
    try:
        text.encode("utf-8")
        return None
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


# chardet's names for the East Asian charsets the peers guess, and our codec for each.
_CJK = {
    "gb2312": "gb18030", "gbk": "gb18030", "gb18030": "gb18030",
    "shift_jis": "cp932", "cp932": "cp932", "euc-jp": "euc_jp",
    "euc-kr": "cp949", "cp949": "cp949", "big5": "big5hkscs",
}
GUESS_SAMPLE = 4096  # bytes handed to the detector: its cost grows with the input


def guess_cjk(data: bytes) -> str | None:
    """The East Asian codec raw 8-bit text is in (GB18030, Shift_JIS, EUC-JP, EUC-KR, Big5),
    or None: as Zammad and OTOBO do for undeclared headers. Not UTF-8, and only a codec
    that decodes all of `data` strictly, so Latin text keeps the windows-1252 fallback."""
    if data.isascii():
        return None
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError:
        pass
    import chardet  # 0.2 s to import: only for mail that needs it

    found = chardet.detect(data[:GUESS_SAMPLE]).get("encoding") or ""
    codec = _CJK.get(found.lower())
    if codec is None:
        return None
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return None
    return codec


def header_charset(values: list[object]) -> str:
    """One guess for all raw 8-bit header values of a mail (a client writes them in one
    charset): the detector runs once per mail, however many such headers there are."""
    sample = bytearray()
    for value in values:
        data = raw_bytes(value)
        if data is not None and len(sample) < GUESS_SAMPLE:
            sample += data + b"\n"
    return (guess_cjk(bytes(sample)) or "cp1252") if sample else "cp1252"


def iso2022jp_via_cp932(data: bytes) -> str:
    """ISO-2022-JP with the NEC and IBM extensions Windows writes (CP50220/CP50221): each
    JIS X 0208 pair is mapped to its Shift_JIS bytes and decoded as cp932, which has them.
    Python's iso2022_jp codecs refuse them (①, ㈱, Roman numerals...). Raises
    UnicodeDecodeError (or ValueError) when `data` is not 7-bit ISO-2022-JP."""
    if not data.isascii():
        raise ValueError("8-bit data is not ISO-2022-JP")
    out = bytearray()
    mode = b"B"  # ASCII / JIS-Roman, 'K' = JIS X 0208 double bytes, 'I' = half-width kana
    i = 0
    n = len(data)
    while i < n:
        if data[i] == 0x1B:
            seq = data[i + 1 : i + 3]
            if seq in (b"$B", b"$@"):
                mode = b"K"
            elif seq in (b"(B", b"(J"):
                mode = b"B"
            elif seq == b"(I":
                mode = b"I"
            else:
                raise ValueError(f"escape sequence {seq!r} not handled")
            i += 3
            continue
        byte = data[i]
        if mode == b"K" and byte not in (0x0A, 0x0D):
            if i + 1 >= n:
                raise ValueError("half a double-byte character")
            j1, j2 = byte, data[i + 1]
            s1 = (j1 + 1) // 2 + (0x70 if j1 <= 0x5E else 0xB0)
            s2 = j2 + (0x1F if j1 % 2 else 0x7E)
            if s2 >= 0x7F and j1 % 2:
                s2 += 1
            out += bytes((s1, s2))
            i += 2
            continue
        out.append(byte + 0x80 if mode == b"I" and 0x21 <= byte <= 0x5F else byte)
        i += 1
    return out.decode("cp932")


def unfold(text: str) -> str:
    """`FOLD.sub("", text)`, without the regex for a value that has no line break."""
    return FOLD.sub("", text) if "\n" in text or "\r" in text else text


def clean(text: str) -> str:
    """No CR, LF, NUL or other control characters: a header value stays one line forever.
    (A printable text has none: they are all of Unicode's Cc, Zl or Zp.)"""
    return (text if text.isprintable() else CONTROL.sub(" ", text)).strip()


def _decode_word(encoding: str, payload: str) -> bytes:
    data = payload.encode("utf-8", "replace")
    if encoding in "bB":
        try:
            return decode_base64_payload(payload)
        except (binascii.Error, ValueError):
            return data
    return binascii.a2b_qp(data, header=True)


def decode_header_value(value: object, fallback: str = "cp1252") -> str:
    """A header value unfolded, RFC 2047-decoded in any charset, free of control characters.

    Linear in the value's length: adjacent encoded words in one charset are decoded together
    (a multibyte character may span two words) and whitespace between them is dropped.
    Raw 8-bit bytes outside encoded words are read as `to_text` does, with `fallback`.
    """
    text = unfold(to_text(value, fallback))
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
