"""Is this mail a bounce? A DSN (RFC 3464 multipart/report; report-type=delivery-status),
an ARF complaint (feedback-report), anything sent to our bounce address (VERP
`bounces+ID@`), or a non-standard bounce: a null or mailer-daemon sender with a
delivery-failure subject. Bounces never make tickets, so anything that looks like one is
kept away from ticket creation."""

from __future__ import annotations

import re

from maildesk.classify.dsn import read_report
from maildesk.classify.facts import Facts
from maildesk.classify.mailman import detected_recipients
from maildesk.classify.result import Bounce
from maildesk.classify.verp import to_bounce_address, verp_sig
from maildesk.marks import is_system_sender

__all__ = ["BOUNCE_SUBJECT", "REPORT_REASONS", "detect_bounce"]

# The reason each kind of report is a bounce, recorded beside the hit `bounce:<kind>`.
REPORT_REASONS = {
    "delivery-status": "multipart/report; report-type=delivery-status (RFC 3464)",
    "feedback-report": "multipart/report; report-type=feedback-report (ARF, an abuse report)",
    "verp": "sent to our bounce address (VERP)",
    "heuristic": "a null or system sender with a delivery-failure subject",
}

BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered mail|delivery status notification|mail delivery (failed|failure|"
    r"system)|returned mail|failure notice|delivery failure|non-?delivery|nondeliverable|"
    r"delivery has failed|could not be delivered|unzustellbar|nicht zugestellt|"
    r"non remis|no se puede entregar|no entregado|mail system error",
    re.IGNORECASE,
)


def report_kind(f: Facts, verp: int | bool) -> str | None:
    """Which kind of report the mail is, if any: the rule's verdict."""
    if f.report_type in ("delivery-status", "feedback-report"):
        return f.report_type
    if verp is not False:
        return "verp"
    if ((not f.sender or is_system_sender(f.sender) or is_system_sender(f.from_addr))
            and BOUNCE_SUBJECT.search(f.subject)):
        return "heuristic"
    return None


def detect_bounce(f: Facts) -> Bounce | None:
    """The bounce this mail reports, with what its report says; None for other mail."""
    verp = to_bounce_address(f.config, f.envelope)
    report = report_kind(f, verp)
    if report is None:
        return None
    bounce = read_report(f.mail, report)
    if not isinstance(verp, bool):
        bounce.verp_id = verp
        bounce.verp_sig = verp_sig(f.config, f.envelope)
    if not bounce.recipients:
        bounce.recipients = [a.strip().lower() for v in f.mail.header_all("X-Failed-Recipients")
                             for a in v.split(",") if a.strip()]
    if not bounce.recipients and report != "feedback-report":
        # A non-standard report (qmail, Exim, old Postfix ...): Mailman's detectors know
        # the formats one by one (classify.mailman: 81 of 110 corpus bounces, dsn 20).
        bounce.recipients = detected_recipients(f.mail)
    return bounce
