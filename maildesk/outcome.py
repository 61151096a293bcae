"""The answer the pipeline gives for one mail, in the words of SMTP and of sysexits.

The SMTP layer and `maildesk deliver` only translate an Outcome; they never decide.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EX_DATAERR", "EX_NOUSER", "EX_OK", "EX_TEMPFAIL", "EX_USAGE", "EX_CONFIG", "Outcome"]

EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOUSER = 67
EX_SOFTWARE = 70
EX_TEMPFAIL = 75
EX_CONFIG = 78


@dataclass(frozen=True)
class Outcome:
    # stored | duplicate | ignored | spooled | quarantined | rejected | unknown_recipient | deferred
    result: str
    code: int  # SMTP reply code
    text: str  # enhanced status + human text, e.g. "2.0.0 Ok: ticket 2026112510000012"
    ticket: str | None = None
    queue: str | None = None  # the ticket's queue, for the per-mail log line (SPEC 10)
    message_id: str | None = None  # the mail's Message-ID without <>, for the same line

    @property
    def reply(self) -> str:
        return f"{self.code} {self.text}"

    @property
    def exit_code(self) -> int:
        if self.code < 400:
            return EX_OK
        if self.code < 500:
            return EX_TEMPFAIL
        return EX_NOUSER if self.result == "unknown_recipient" else EX_DATAERR

    @property
    def durable(self) -> bool:
        return self.code < 400


def stored(ticket: str, result: str = "stored") -> Outcome:
    return Outcome(result, 250, f"2.0.0 Ok: ticket {ticket}", ticket)


def deferred(reason: str) -> Outcome:
    return Outcome("deferred", 451, f"4.3.0 {reason}")
