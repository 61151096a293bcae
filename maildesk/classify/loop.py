"""Reasons not to auto-respond (RFC 3834 section 2, SPEC 8): what a mail says about
itself. Every rule runs on every mail, so each decision is auditable."""

from __future__ import annotations

import re

from maildesk.classify.facts import Facts
from maildesk.classify.rule import Rule, rule
from maildesk.marks import is_system_sender, loop_value

__all__ = ["LOOP_RULES"]

_LIST_HEADERS = (("list-id", "List-Id"), ("list-unsubscribe", "List-Unsubscribe"),
                 ("list-post", "List-Post"))
_OUR_ID = re.compile(r"(?:^|\.)md-[0-9a-f]{8,}@", re.IGNORECASE)
BULK = ("bulk", "junk", "list", "auto_reply")


@rule("null-sender")
def null_sender(f: Facts) -> list[str]:
    """The envelope sender is <>: a bounce or a robot, never to be answered."""
    return ["null sender"] if not f.sender or f.sender == "<>" else []


@rule("auto-submitted")
def auto_submitted(f: Facts) -> list[str]:
    """Auto-Submitted other than `no` (RFC 3834)."""
    return [f"Auto-Submitted: {f.auto_submitted}"] if f.auto_submitted != "no" else []


@rule("precedence")
def precedence(f: Facts) -> list[str]:
    """Precedence: bulk, junk, list or auto_reply."""
    return [f"Precedence: {f.precedence}"] if f.precedence in BULK else []


@rule("mailing-list")
def mailing_list(f: Facts) -> list[str]:
    """A List-* header: the mail came through a mailing list."""
    name = next((n for key, n in _LIST_HEADERS if key in f.first), None)
    return [f"mailing list ({name})"] if name else []


@rule("suppress")
def suppress(f: Facts) -> list[str]:
    """X-Auto-Response-Suppress asks for no auto-replies (Exchange)."""
    if not f.suppress & {"all", "autoreply", "oof"}:
        return []
    return ["X-Auto-Response-Suppress: "
            + (f.header("x-auto-response-suppress") or "").strip()]


@rule("robot-header")
def robot_header(f: Facts) -> list[str]:
    """X-Autoreply, X-Autorespond and kin: a robot says so."""
    return [f.robot_header] if f.robot_header else []


@rule("system-sender")
def system_sender(f: Facts) -> list[str]:
    """A mailer-daemon/postmaster/noreply sender, or one of our own addresses."""
    reasons = []
    for who in {f.sender, f.from_addr} - {""}:
        if is_system_sender(who):
            reasons.append(f"system sender: {who}")
        if f.config.is_system_address(who):
            reasons.append(f"our own address: {who}")
    return reasons


@rule("x-loop")
def x_loop(f: Facts) -> list[str]:
    """X-Loop carries our mark (or a bare yes/true): the mail went round once already."""
    if "x-loop" not in f.first:  # most mail: no scan of the headers for none
        return []
    mark = loop_value(f.config).lower()
    for value in f.mail.header_all("X-Loop"):
        if value.strip().lower() in (mark, "yes", "true"):
            return [f"X-Loop: {value.strip()}"]
    return []


@rule("own-message-id")
def own_message_id(f: Facts) -> list[str]:
    """The Message-ID is one we made: our own mail came back."""
    mid = (f.mail.message_id or "").strip("<>").lower()
    ours = (mid.endswith("@" + f.config.instance.domain.lower())
            and bool(_OUR_ID.search(mid)))
    return ["our own Message-ID"] if ours else []


LOOP_RULES: tuple[Rule, ...] = (null_sender, auto_submitted, precedence, mailing_list,
                                suppress, robot_header, system_sender, x_loop, own_message_id)
