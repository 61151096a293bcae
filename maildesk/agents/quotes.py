"""The text an agent typed above the quote: what becomes the answer to the customer.

mail-parser-reply (the maintained Python parser) was measured against the corpus expected
outputs first (`tests/agents/test_quotes.py` prints the rates): it finds the reply in simple
Gmail/Apple mails but keeps Outlook header blocks, mobile "Sent from" lines, `-- `
signatures, wrapped "On ... wrote:" markers and most non-English markers, and it strips the
indentation of every line. So the trimming here is a small line classifier of our own (each
line is text, empty, quote, marker, header, signature or delimiter, then the pattern of
classes is cut, in the manner of Discourse's email_reply_trimmer); mail-parser-reply's
per-language "wrote" markers are reused as one more marker source for the languages it has.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

__all__ = ["reply_text"]

_B = r"[ \t]"  # blank
# "On <date>, <someone> wrote:" and its translations: a starting word, then the verb.
_WROTE = [
    (r"(?:On|At)", r"(?:wrote|writes|says|said)"),
    (r"In message", r"writes"),
    (r"Le", r"(?:a\s+écrit|nous\s+a\s+dit|a\s+ecrit)"),
    (r"El", r"(?:escribió|escribio)"),
    (r"Am", r"(?:schrieb|geschrieben|schrieben\s+Sie)[^:\n]*"),
    (r"Op", r"(?:het\s+volgende\s+geschreven|schreef[^:\n]*)"),
    (r"Il", r"ha\s+scritto"),
    (r"(?:Dnia|Dňa)", r"napisał(?:\(a\))?"),
    (r"Em", r"escreveu"),
    (r"(?:Den|den)", r"skrev[^:\n]*"),
    (r"在", r"写道"),
]
_WROTE_RES = [
    re.compile(rf"^[\s<>*-]*{start}\s.{{0,300}}?\b{verb}{_B}*[.:>\-]*{_B}*(?:-+)?{_B}*$",
               re.IGNORECASE)
    for start, verb in _WROTE
]
# How every one of them begins (the same flags): a line that does not begin so skips all.
_WROTE_START = re.compile(
    rf"^[\s<>*-]*(?:{'|'.join(start for start, _ in _WROTE)})\s", re.IGNORECASE)
# A line ending in one of these verbs (and maybe a colon); it can only end in a colon or the
# last letter of one (the same flags: re's case-insensitive letters, checked by re).
_VERB_TAIL_RE = re.compile(r"\b(?:wrote|schrieb|a écrit|escribió)\s*:?\s*$", re.IGNORECASE)
_VERB_LAST = re.compile(r"[:ebtó]", re.IGNORECASE)


def _VERB_TAIL(line: str) -> object:  # noqa: N802  # a `needs` like the patterns beside it
    end = line.rstrip()  # re's \s and str.rstrip agree on white space
    return end and _VERB_LAST.fullmatch(end[-1]) and _VERB_TAIL_RE.search(line)


# (needs, pattern): a marker can only match a line that holds `needs` (characters with no
# case, so the check is exact under IGNORECASE), ":$" for the ones ending in `\s*:\s*$` (the
# line ends in a colon; str.rstrip and re's \s agree on whitespace, lines hold no "\n").
# Most lines skip most markers. A pattern or a function as `needs`: what every line the
# marker matches has, checked first (once for all the markers that share it).
_MARKERS: list[tuple[str | re.Pattern[str] | Callable[[str], object], re.Pattern[str]]] = [
    *((_WROTE_START, r) for r in _WROTE_RES),
    # Max Mustermann <x@y> schrieb am Fr., 28. Apr. 2017 um 11:53 Uhr:
    (":$", re.compile(r"^.+\b(?:wrote|schrieb)\s+(?:on|am)\b.+:\s*$", re.IGNORECASE)),
    # 23 mar 2017 21:25 "Neil" <x@y> napisał(a):   пользователь ... написал:   ... пише:
    (":$", re.compile(r"\d{4}.{1,120}(?:napisał(?:\(a\))?|написал[аи]?|пише|schreef|skrev)\s*:\s*$",
               re.IGNORECASE)),
    # 2016-03-03 17:21 GMT+01:00 Some One
    ("GMT", re.compile(r"^[\s>]*20\d\d-\d\d-\d\d \d\d?:\d\d GMT[+-]\d\d:\d\d [\w\s]+$")),
    # 2015-10-18 0:17 GMT+03:00 Matt <x@y>:   2013/7/20 sam via Discourse <x@y>
    ("@", re.compile(r"\d{4}.{1,80}\s?<[^@<>\s]+@[^@<>\s.]+\.[^@<>\s]+>:?\s*$")),
    # someone via Something wrote:   someone <x@y> schrieb:
    (_VERB_TAIL, re.compile(r"^.+ via .+ (?:wrote|schrieb):?\s*$", re.IGNORECASE)),
    # (gated on its own last part: a line with addresses but no such ending is not backtracked)
    (_VERB_TAIL,
     re.compile(r"^.+\b[\w.+-]+@[\w.-]+\.\w{2,}\b.*\b(?:wrote|schrieb|a écrit|escribió)"
                r"\s*:?\s*$", re.IGNORECASE)),
    ("", re.compile(r"^[\s>]*Posted by .+ on \d\d/\d\d/\d{4}$", re.IGNORECASE)),
    # Forward and Outlook separators, in the languages clients write them.
    (":", re.compile(r"^[\s>]*(?:Begin forwarded message|Forwarded message|"
               r"Début du message (?:réexpédié|transféré)|"
               r"Anfang der weitergeleiteten Nachricht|Inicio del mensaje reenviado)\s*:",
               re.IGNORECASE)),
    ("--", re.compile(r"^[\s>*]*-{2,}\s*(?:Forwarded|Original|Reply) Message\s*-{2,}",
                      re.IGNORECASE)),
    ("--", re.compile(r"^[\s>*]*-{2,}\s*(?:Message (?:transféré|d'origine|original)|"
               r"Ursprüngliche Nachricht|Weitergeleitete Nachricht|Originalnachricht|"
               r"Mensaje (?:original|reenviado)|Messaggio originale|Oorspronkelijk bericht|"
               r"Oprindelig meddelelse|Opprinnelig melding|Ursprungligt meddelande|"
               r"Mensagem original|Alkuperäinen viesti|Oprindelig besked|原始邮件|"
               r"Исходное сообщение)\s*-{2,}",
               re.IGNORECASE)),
]
# Any line with a date or an address that ends in a "wrote:" verb of some language:
# ^.{0,300}(?:\d|@).{0,300}<verb>\s*:\s*$, read as "a verb ending the line starts at v, and
# a digit or @ sits at some d <= 300 with v - 301 <= d < v" (the regex itself backtracks up
# to 300x300 steps a line: seconds for 100 KB of distinct lines ending in a colon).
_WROTE_TAIL = re.compile(r"(?=\b(?:wrote|schrieb|a\s+écrit|escribió|escreveu|"
                         r"ha\s+scritto|kirjoitti|skrev|napisał(?:\(a\))?|написал[аи]?|пише|geschreven|"
                         r"schreef|napsal(?:\(a\))?|írta|yazdı)\s*:\s*$)",
                         re.IGNORECASE)
_DIGIT_AT = re.compile(r"\d|@")


def _dated_wrote(line: str) -> bool:
    """The marker above in linear time: each start of a line-ending verb (v <= 601) is
    checked for a digit or @ in the 301 characters before it, within the first 301."""
    for m in _WROTE_TAIL.finditer(line, 1):
        v = m.start()
        if v > 601:
            return False
        if _DIGIT_AT.search(line, max(0, v - 301), min(v, 301)):
            return True
    return False


# A header line of a quoted mail as Outlook, Exchange and webmail clients write them.
_HEADER_NAMES = (
    "From|Sent|To|Cc|Bcc|Subject|Date|Reply-To|"
    "Von|Gesendet|An|Betreff|Datum|Kopie|"
    "De|Envoyé|Envoye|À|A|Objet|Date|Sujet|Copie à|Message du|"
    "Enviado|Para|Asunto|Fecha|CC|"
    "Da|Inviato|Oggetto|Data|Risposta|"
    "Van|Verzonden|Aan|Onderwerp|"
    "Fra|Sendt|Til|Emne|Dato|Från|Skickat|Till|Ämne|"
    "Od|Wysłano|Do|Temat|Kopia|"
    "От|Отправлено|Кому|Тема|Дата|Копия|"
    "发件人|收件人|主题|日期|发送时间"
)
_HEADER = re.compile(rf"^[\s>*]*(?:{_HEADER_NAMES}){_B}*\*?{_B}*[:：]", re.IGNORECASE)
# Phone and webmail taglines, ended at by the reply, not part of it.
_MOBILE = re.compile(
    r"^\s*(?:[(<]*\s*sent (?:from|via|with|by) .+|\w+ from mobile\b.*|from my .{1,20}|"
    r"get (?:\[?outlook|the \w+ app) .*|envoyé depuis (?:mon|yahoo mail).*|"
    r"(?:gesendet von|envoyé à partir de|enviado desde|inviato da) outlook.*|"
    r"von meinem .+ gesendet.*|diese nachricht wurde von .+ gesendet.*|"
    r"gesendet von meinem .+|inviato da .+|sendt fra min .+|enviado (?:do|desde) (?:meu|mi) .+|"
    r"verzonden met .+|verstuurd vanaf mijn .+|skickat från min .+|från min .+|"
    r"從我的 iPhone 傳送|发自我的.+)\s*$",
    re.IGNORECASE,
)
_DELIMITER = re.compile(r"^\s*(?:[-_=*~+#—–.ᐧ•]\s*){2,}$|^\s*ᐧ\s*$")
# How the first line of a wrapped "On <date> ... wrote:" begins, in several languages.
_MARKER_START = re.compile(
    r"^[\s>]*(?:On|At|Le|El|Am|Op|Il|In data|Em|Dnia|Dňa|Den|\d+|\w{2,12}\.?,? \d+)\b",
    re.IGNORECASE)
_SIG_DASHES = re.compile(r"^--\s*$")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")


@lru_cache(maxsize=1)
def _library_markers() -> tuple[re.Pattern[str], ...]:
    """mail-parser-reply's "On ... wrote:" line per language (de, es, fr, it, nl, pl, ...)."""
    try:
        from mailparser_reply.constants import MAIL_LANGUAGES
    except ImportError:  # an optional aid, not a dependency of correctness
        return ()
    out = []
    for lang in ("en", "de", "es", "fr", "it", "nl", "pl", "sv", "da", "cs", "ja", "ko", "zh"):
        pattern = MAIL_LANGUAGES.get(lang, {}).get("wrote_header")
        if isinstance(pattern, str):
            try:
                out.append(re.compile(pattern, re.IGNORECASE))
            except re.error:
                continue
    return tuple(out)


def _ends_in_colon(pattern: str) -> bool:
    """Whether every match of `pattern` ends in ":" or "：" then the end ("$", no MULTILINE
    and a stripped line ends in no "\n"): the pattern ends in the colon, closing groups and
    "$", and no "|" is at its top level or in a group the colon closes, none of them a
    lookaround (escapes and [...] sets skipped). False when unsure."""
    tail = pattern.rstrip("$")
    if len(pattern) - len(tail) != 1:
        return False
    core = tail.rstrip(")")
    if not core.endswith((":", "：")) or core.endswith(("\\:", "(?:")):
        return False
    stack: list[int] = []  # the groups open, by the position that opened them
    alternated = set()  # groups (-1: the top level) holding a "|"
    i, n = 0, len(core)
    while i < n:
        c = core[i]
        if c == "\\":
            i += 1
        elif c == "[":
            i += 1
            i += core[i:i + 1] == "^"
            i += core[i:i + 1] == "]"
            while i < n and core[i] != "]":
                i += 1 + (core[i] == "\\")
        elif c == "(":
            stack.append(i)
        elif c == ")" and stack:
            stack.pop()
        elif c == "|":
            alternated.add(stack[-1] if stack else -1)
        i += 1
    closed = len(tail) - len(core)
    plain = all(core[p + 1] != "?" or core.startswith(("(?:", "(?P<"), p) for p in stack)
    return (len(stack) == closed and plain and -1 not in alternated
            and not alternated.intersection(stack))


@lru_cache(maxsize=1)
def _library_tests() -> tuple[tuple[re.Pattern[str], ...], tuple[re.Pattern[str], ...]]:
    """The library's markers as (those that need a line ending in ":" or "：", the rest):
    today every one of them is of the first kind, and most lines skip them all."""
    markers = _library_markers()
    colon = tuple(r for r in markers
                  if _ends_in_colon(r.pattern) and not r.flags & re.VERBOSE)
    return colon, tuple(r for r in markers if r not in colon)


# Every marker but two is anchored at "^": `match` gives the same answer as `search` (no
# MULTILINE, a line has no "\n") without trying the pattern at every position of the line.
# Markers that share a pre-check are grouped: the check runs once a line, not once a marker.
def _test(r: re.Pattern[str] | Callable[[str], object]) -> Callable[[str], object]:
    if not isinstance(r, re.Pattern):
        return r
    return r.match if r.pattern.startswith("^") else r.search


_MARKER_GROUPS: tuple[tuple[str | Callable[[str], object],
                            tuple[Callable[[str], object], ...]], ...] = tuple(
    (need if isinstance(need, str) else _test(need),
     tuple(_test(r) for n, r in _MARKERS if n == need))
    for need in dict.fromkeys(n for n, _ in _MARKERS))


def _kind(line: str) -> str:
    """One letter per line: e(mpty) d(elimiter) S(ig dashes) s(ignature) b (quote marker),
    h(eader), q(uote), t(ext)."""
    stripped = line.strip()
    if not stripped:
        return "e"
    if _SIG_DASHES.match(line):
        return "S"
    if _DELIMITER.match(line):
        return "d"
    if _MOBILE.match(_MD_LINK.sub(r"\1", line) if "[" in line else line):
        return "s"
    colon_end = stripped.endswith(":")
    colon_library, other_library = _library_tests()
    if any((colon_end if need == ":$" else need in line if isinstance(need, str)
            else need(line)) and any(test(line) for test in tests)
           for need, tests in _MARKER_GROUPS) or (colon_end and _dated_wrote(line)) \
            or ((colon_end or stripped.endswith("："))
                and any(r.match(stripped) for r in colon_library)) \
            or any(r.match(stripped) for r in other_library):
        return "b"
    # The header pattern needs a colon; most lines have none and skip its long alternation.
    if (":" in line or "：" in line) and _HEADER.match(line):
        return "h"
    if line.lstrip().startswith(">"):
        return "q"
    return "t"


def _memo() -> Callable[[str], str]:
    """`_kind` remembered for one reply: the wrapped-marker scan and the class pass ask
    about the same lines (and a quote repeats the mail's lines), at ~20 regexes a line."""
    seen: dict[str, str] = {}

    def kind(line: str) -> str:
        k = seen.get(line)
        if k is None:
            k = seen[line] = _kind(line)
        return k
    return kind


def _joined(parts: list[str]) -> str:
    out = ""
    for part in parts:
        part = part.strip().lstrip(">").strip()
        out = out + part if out.endswith(("<", "(")) or not out else out + " " + part
    return out


def _join_wrapped_markers(lines: list[str], _kind: Callable[[str], str]) -> list[str]:
    """Gmail and others wrap "On <date>, <someone> <\\naddr> wrote:" over up to four lines;
    join them so the marker is seen. The shortest wrapped marker wins, so the line of text
    above one is never swallowed."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        span = 0
        if lines[i].strip() and _kind(lines[i]) in ("t", "q") and len(lines[i]) < 400:
            starts = _MARKER_START.match(lines[i]) is not None
            for extra in (1, 2, 3):
                tail = lines[i + 1 : i + extra + 1]
                if len(tail) < extra or not tail[-1].strip() or _kind(tail[-1]) == "h":
                    break
                if _kind(_joined(lines[i : i + extra + 1])) == "b" and (
                        starts or _kind(_joined(tail)) != "b"):
                    span = extra
                    break
        if span:
            out.append(_joined(lines[i : i + span + 1]))
            out.extend("" for _ in range(span))
        else:
            out.append(lines[i])
        i += span + 1
    return out


def _kinds(lines: list[str], _kind: Callable[[str], str]) -> list[str]:
    """Line classes; inside a ``` code fence every line is text."""
    kinds, fenced = [], False
    for line in lines:
        if line.strip().startswith("```"):
            fenced = not fenced
            kinds.append("t")
            continue
        kinds.append("t" if fenced and line.strip() else _kind(line))
    return kinds


def reply_text(body: str, strip_signatures: bool = True) -> str:
    """The new text of a reply: quotes, quoted headers, signatures and taglines removed.

    A reply that begins with a quote (bottom-posting) keeps the text written below it.
    Returns "" when nothing new was written. `strip_signatures=False` keeps `-- ` signatures
    and phone taglines (talon's reference outputs keep them; a helpdesk answer does not).
    """
    if not body or not body.strip():
        return ""
    text = body.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    kind = _memo()
    lines = _join_wrapped_markers(text.split("\n"), kind)
    kinds = _kinds(lines, kind)

    # `-- ` and a phone's "Sent from my ..." end what was typed: below is the signature and
    # the quote.
    # (A flag, not `"t" in kinds[:n]` per line: thousands of "--" lines were quadratic.)
    above = False
    for n, k in enumerate(kinds):
        if k in "Ss" and above and strip_signatures:
            lines, kinds = lines[:n], kinds[:n]
            break
        above = above or k in "tq"
    # Separator lines go wherever they are.
    keep = [n for n, k in enumerate(kinds) if k not in ("dsS" if strip_signatures else "d")]
    lines, kinds = [lines[n] for n in keep], [kinds[n] for n in keep]

    # Outlook-style header blocks: three header lines close together start the quote
    # (wrapped values may sit between them).
    pattern = "".join(kinds)
    block = re.search(r"h(?:[te]{0,2}h){2,}", pattern)
    if block:
        start = block.start()
        # A marker just above the headers ("-----Original Message-----") goes too.
        if "t" in pattern[:start]:
            lines, kinds = lines[:start], kinds[:start]
        else:
            # The mail begins with a forwarded header block: keep what follows it.
            end = block.end()
            while end < len(kinds) and kinds[end] in "te" and kinds[end - 1] != "e":
                end += 1  # the wrapped tail of the last header
            lines, kinds = lines[end:], kinds[end:]
        pattern = "".join(kinds)

    # The first marker below some text starts the quoted part.
    for n, k in enumerate(kinds):
        if k != "b":
            continue
        if "t" in kinds[:n]:
            while n > 0 and kinds[n - 1] == "h":  # a header line or two above the marker
                n -= 1
            lines, kinds = lines[:n], kinds[:n]
            break
        # A marker at the top: a bottom-posted reply. Drop the marker and the quote under it.
        end = n + 1
        while end < len(kinds) and kinds[end] in "qehb":
            end += 1
        if "t" in kinds[end:]:
            lines, kinds = lines[:n] + lines[end:], kinds[:n] + kinds[end:]
        else:
            lines, kinds = lines[:n], kinds[:n]
        break
    # Markers left over (a top-posted quote, then inline text) carry no text of their own.
    lines = [x for x, k in zip(lines, kinds, strict=True) if k != "b"]
    kinds = [k for k in kinds if k != "b"]

    # A quote at the end, below the text, is the quoted mail.
    if "t" in kinds:
        end = len(kinds)
        while end > 0 and kinds[end - 1] in "qe":
            end -= 1
        lines = lines[:end]
    elif all(k in "qe" for k in kinds):
        return ""
    return "\n".join(lines).strip("\n").rstrip()
