"""The answer the pipeline gives for one mail, in the words of SMTP and of sysexits.

The SMTP layer and `maildesk deliver` only translate an Outcome; they never decide.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EX_CONFIG", "EX_DATAERR", "EX_NOUSER", "EX_OK", "EX_TEMPFAIL", "EX_USAGE", "RESULTS",
           "Outcome"]

EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOUSER = 67
EX_SOFTWARE = 70
EX_TEMPFAIL = 75
EX_CONFIG = 78


# One word per meaning (README "What each mail came to"); scripts read these from the log
# line and the metrics, so a word is added, never renamed.
RESULTS = {
    "stored": "a ticket was made or an article added",
    "duplicate": "the same mail again: nothing new stored",
    "ignored": "a rule discarded it",
    "spooled": "the database or disk is away: kept in spool/inbound, stored later",
    "unmatched_bounce": "a bounce matching no ticket: kept once in spool/unmatched",
    "quarantined": "processing failed (a bug): kept in spool/failed for review",
    "rejected": "refused (5xx): not a mail, a loop, or a rule's reject",
    "unknown_recipient": "no queue has this address (5xx)",
    "deferred": "not stored now (4xx): the sender retries",
}


@dataclass(frozen=True)
class Outcome:
    result: str  # a key of RESULTS
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
