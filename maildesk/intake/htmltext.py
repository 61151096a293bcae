"""HTML mail bodies as plain text, for tickets, notifications and reply stripping.

Built on the standard library's html.parser (html2text is GPL). That parser, as shipped in
Python 3.11, re-scans unfinished constructs and goes quadratic on input such as
`<a <a <a ...` or `<!--<!--...` (100 KB of `<a ` takes a minute). So a linear pre-pass of our
own first reduces the document to bare tags (`<p>`, `</div>`), escaped stray `<` and text:
comments, doctypes, attributes and the contents of script/style/title are gone before
html.parser sees anything, and it only decodes entities and reports tags. Nesting is tracked
with counters, never a stack, so depth costs nothing.
"""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser

__all__ = ["html_to_text", "MAX_HTML_CHARS"]

MAX_HTML_CHARS = 2_000_000  # longer HTML is cut: the text of 2 MB of markup is plenty

_TAG_START = re.compile(r"</?([a-zA-Z][a-zA-Z0-9:_-]{0,63})")
# Elements whose content is raw text that no reader sees.
_RAW_DROP = frozenset({"script", "style", "title", "iframe", "noembed", "noframes", "xml"})
_RAW_END = {name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in _RAW_DROP}
_SKIP = frozenset({"template", "svg", "math", "head"})
_HEAD_OK = frozenset(
    {"meta", "link", "base", "title", "style", "script", "noscript", "template", "xml", "head"}
)
_PARAGRAPH = frozenset(
    {
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "table",
        "ul",
        "ol",
        "dl",
        "pre",
        "hr",
        "address",
        "figure",
        "fieldset",
    }
)
_BLOCK = _PARAGRAPH | frozenset(
    {
        "div",
        "br",
        "tr",
        "li",
        "dt",
        "dd",
        "section",
        "article",
        "header",
        "footer",
        "main",
        "nav",
        "aside",
        "center",
        "form",
        "details",
        "summary",
        "figcaption",
        "caption",
        "tbody",
        "thead",
        "tfoot",
        "body",
        "html",
        "o:p",
    }
)
_WS = re.compile(r"\s+")
_INVISIBLE = re.compile("[\u200b\u200c\u00ad\ufeff\u034f\u2060]")
_BLANKS = re.compile(r"\n{3,}")
_CHUNK = 65536


def _reduce(html: str) -> str:
    """Linear pre-pass: keep bare tags and text, drop everything html.parser could choke on."""
    out: list[str] = []
    find = html.find
    n = len(html)
    i = 0
    while i < n:
        j = find("<", i)
        if j < 0:
            out.append(html[i:])
            break
        out.append(html[i:j])
        if html.startswith("<!--", j):
            k = find("-->", j + 4)
            if k < 0:
                break  # an unclosed comment hides the rest, as in browsers
            i = k + 3
            continue
        m = _TAG_START.match(html, j)
        if m:
            k = find(">", m.end())
            if k < 0:
                break  # a tag cut off at the end of the document
            name = m.group(1).lower()
            closing = html[j + 1] == "/"
            i = k + 1
            if not closing and name in _RAW_DROP:
                end = _RAW_END[name].search(html, i)
                if end is None:
                    break
                i = end.end()
                continue
            out.append(f"</{name}>" if closing else f"<{name}>")
            continue
        if html.startswith(("<!", "<?", "</"), j):  # doctype, CDATA, processing instruction
            k = find(">", j + 2)
            if k < 0:
                break
            i = k + 1
            continue
        out.append("&lt;")
        i = j + 1
    return "".join(out)


class _TextParser(HTMLParser):
    """Collects text; block elements become line breaks, blockquotes become '> ' lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.in_head = False
        self.pre = 0
        self.quote = 0
        self.pending = 0  # line breaks owed before the next text
        self.line_start = True

    def _brk(self, count: int) -> None:
        self.pending = max(self.pending, count)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.in_head and (tag == "body" or tag not in _HEAD_OK):
            self.in_head = False
        if tag == "head":
            self.in_head = True
            return
        if tag in _SKIP:
            self.skip += 1
            return
        if tag == "pre":
            self.pre += 1
        if tag == "blockquote":
            self._brk(1)
            self.quote += 1
        if tag in _PARAGRAPH:
            self._brk(2)
        elif tag in _BLOCK:
            self._brk(1)
        if tag == "li":
            self._text("- ", raw=True)
        elif tag in ("td", "th") and not (self.line_start or self.pending):
            self._text(" ", raw=True)

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.in_head = False
            return
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in _PARAGRAPH:
            self._brk(2)
        elif tag in _BLOCK:
            self._brk(1)
        if tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self._brk(1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        if self.skip or self.in_head:
            return
        if self.pre:
            for k, line in enumerate(data.replace("\r\n", "\n").replace("\r", "\n").split("\n")):
                if k:
                    self._brk(1)
                    self._flush_breaks(force=True)
                if line:
                    self._text(line.replace("\xa0", " "), raw=True)
            return
        text = _WS.sub(" ", data)
        if self.line_start or self.pending:
            text = text.lstrip(" ")
        if text:
            self._text(text)

    def _flush_breaks(self, force: bool = False) -> None:
        if self.pending and (self.parts or force):
            self.parts.append("\n" * self.pending)
            self.line_start = True
        self.pending = 0

    def _text(self, text: str, raw: bool = False) -> None:
        if self.skip or self.in_head:
            return
        self._flush_breaks()
        if self.line_start:
            if self.quote:
                self.parts.append("> " * self.quote)
            if not raw:
                text = text.lstrip(" ")
                if not text:
                    return
        self.parts.append(text)
        self.line_start = False


def html_to_text(
    html: str, *, max_chars: int = MAX_HTML_CHARS, deadline: float | None = None
) -> str:
    """Readable plain text of an HTML document; bounded in time and size, never raises.

    `deadline` is a time.monotonic() value: past it, the text so far is returned.
    """
    try:
        reduced = _reduce(html[:max_chars])
        parser = _TextParser()
        for start in range(0, len(reduced), _CHUNK):
            if deadline is not None and time.monotonic() > deadline:
                break
            parser.feed(reduced[start : start + _CHUNK])
        parser.close()
        text = "".join(parser.parts)
    except Exception:  # text extraction must never take the mail down
        return ""
    text = _INVISIBLE.sub("", text)
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip("\n")
