"""The DATA of one mail, taken from the socket a read at a time instead of a line at a time.

Reading DATA with `readuntil(b"\\n")` cost a coroutine step, a buffer search and a sink
append per line: 17% of the daemon's core at 100 KB mails (issue 20). `DataReader.feed`
takes whatever one read brought and checks whole runs of lines with a few C-speed scans
(an `re` search, `rfind`, `replace`); only a run that breaks a rule (a bare LF, an
over-long line, the size limit) is walked line by line, so the answers are the line
reader's, byte for byte:

* Lines end at LF. Only a line ".\\r\\n" after a line that ended in CRLF ends the data, so
  a bare-LF "smuggled" message stays inside the one it came in (aiosmtpd >= 1.4.6).
* A line whose LF comes after `line_limit` bytes is over-long: its bytes are dropped, the
  line leaves the CRLF state as it was, and the mail is refused (LINE_TOO_LONG).
* A line ending in a bare LF is taken as ending in CRLF (`normalize`) or refuses the mail
  (BARE_LF). A bare CR is an ordinary byte.
* Past `size_limit` bytes (after normalizing, before unstuffing) the mail is refused
  (TOO_BIG). The first rule broken names the reply; a refused mail keeps nothing.
* A line starting with "." loses that dot (RFC 5321 4.5.2).
"""

from __future__ import annotations

import re

from maildesk.smtp import status
from maildesk.smtp.datasink import DataSink

__all__ = ["DataReader"]

_END = b"\r\n.\r\n"
# An LF that begins a line with a dot, or that has no CR before it (a bare LF; `region`
# begins a line, so an LF at 0 is one). re's search for a pattern that begins with a
# literal steps from LF to LF and looks at the bytes around each: one pass over 100 KB of
# CRLF lines, where bytes.find(b"\n.") (keyed on the dot, everywhere in text) and
# `count(b"\n") != count(b"\r\n")` took three times as long (issue 20).
_LINE_DOT_OR_BARE_LF = re.compile(rb"\n(?:\.|(?<!\r\n))")
_LINE_DOT = re.compile(rb"\n\.")  # once a bare LF is found: only the dots


class DataReader:
    """Feed it the reads of one DATA; it says where the data ended and what was wrong."""

    def __init__(self, data: DataSink, size_limit: int | None, line_limit: int,
                 normalize: bool) -> None:
        self.data = data
        self.size_limit = size_limit or 0  # 0: no limit
        self.line_limit = line_limit  # bytes before the LF, as StreamReader's `limit`
        self.normalize = normalize
        self.error: str | None = None  # the reply that refuses the mail, once a rule broke
        self.size = 0  # bytes of data, bare LFs counted as CRLF
        self.flush_due = False  # the sink wants a write to its file: await data.flush()
        self._after_crlf = True  # the data begins after the CRLF of DATA
        self._pending = b""  # the start of a line whose LF has not come yet
        self._skipping = False  # inside an over-long line: dropped up to its LF

    def feed(self, chunk: bytes) -> bytes | None:
        """Take one read. Returns the bytes after the final ".\\r\\n" (the next commands)
        once the data has ended, else None."""
        if self._skipping:
            lf = chunk.find(b"\n")
            if lf < 0:
                return None
            self._skipping = False
            chunk = chunk[lf + 1:]
        region = self._pending + chunk if self._pending else chunk
        self._pending = b""
        # One pass over the dots that start a line: each is the end (".\r\n" after a line
        # that ended in CRLF) or a stuffed dot; and over the bare LFs before the end. All
        # are rare, so the scan is nearly all C.
        end, stuffed, bare_lf = -1, False, False
        if region[:1] == b".":
            if self._after_crlf and region.startswith(b".\r\n"):
                end = 0
            stuffed = True
        hit = _LINE_DOT_OR_BARE_LF.search(region) if end < 0 else None
        while hit is not None:
            at = hit.start()
            if region[at + 1:at + 2] == b".":
                if at and region[at - 1:at + 4] == _END:
                    end = at + 1
                    break
                stuffed = True
            if not bare_lf and (at == 0 or region[at - 1] != 13):  # 13: CR
                bare_lf = True
            hit = (_LINE_DOT if bare_lf else _LINE_DOT_OR_BARE_LF).search(region, at + 1)
        if end >= 0:
            body, rest = region[:end], region[end + 3:]
        else:
            cut = region.rfind(b"\n") + 1
            body, rest = region[:cut], region[cut:]
        if not bare_lf and self._plain(body) and (end >= 0 or len(rest) <= self.line_limit):
            self._take(body, stuffed)
            if end >= 0:
                return rest
            self._pending = rest
            return None
        return self._by_line(region)

    def _plain(self, body: bytes) -> bool:
        """True when `body` (whole lines, every one ending in CRLF: `feed` looked) breaks no
        other rule: none is over-long, and the size limit holds."""
        if self.error is None and self.size_limit and self.size + len(body) > self.size_limit:
            return False
        # Every window of line_limit + 1 bytes must hold an LF; jumping to just past the
        # last LF in each window walks the body in about len / line_limit steps.
        window = self.line_limit + 1
        pos, stop = 0, len(body) - window
        while pos <= stop:
            lf = body.rfind(b"\n", pos, pos + window)
            if lf < 0:
                return False
            pos = lf + 1
        return True

    def _take(self, body: bytes, stuffed: bool) -> None:
        """Keep lines that broke no rule, unstuffed (`stuffed`: a line may start with a dot)."""
        if not body:
            return
        self.size += len(body)
        self._after_crlf = True
        if self.error is None:
            if stuffed:
                if body[:1] == b".":
                    body = body[1:]
                body = body.replace(b"\n.", b"\n")
            self._add(body)

    def _by_line(self, region: bytes) -> bytes | None:
        """The line reader's rules, one line at a time (`region` begins a line)."""
        pos = 0
        while True:
            lf = region.find(b"\n", pos)
            if lf < 0:
                if len(region) - pos > self.line_limit:
                    self._refuse(status.LINE_TOO_LONG)
                    self._skipping = True
                else:
                    self._pending = region[pos:]
                return None
            line, start, pos = region[pos:lf + 1], pos, lf + 1
            if lf - start > self.line_limit:
                self._refuse(status.LINE_TOO_LONG)
                continue
            if line == b".\r\n" and self._after_crlf:
                return region[pos:]
            self._after_crlf = line.endswith(b"\r\n")
            if not self._after_crlf:
                if not self.normalize:
                    self._refuse(status.BARE_LF)
                line = line[:-1] + b"\r\n"
            self.size += len(line)
            if self.size_limit and self.size > self.size_limit:
                self._refuse(status.TOO_BIG)
            if self.error is None:
                self._add(line[1:] if line[:1] == b"." else line)

    def _refuse(self, reply: str) -> None:
        if self.error is None:
            self.error = reply
            self.data.clear()

    def _add(self, data: bytes) -> None:
        if data and self.data.add(data):
            self.flush_due = True
