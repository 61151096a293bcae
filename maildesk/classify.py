"""What kind of mail this is, before threading: ordinary mail, a bounce or an auto-reply,
and every reason not to auto-respond to it (SPEC 8).

Minimal first version; the outbound work replaces the detection with the full rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from maildesk.config import Config
from maildesk.intake.message import Envelope, ParsedMail

__all__ = ["Bounce", "Classification", "classify"]


@dataclass
class Bounce:
    verp_id: int | None = None  # outbox id from bounces+ID@domain
    message_ids: list[str] = field(default_factory=list)  # original Message-IDs named
    status: str | None = None  # e.g. 5.1.1
    recipients: list[str] = field(default_factory=list)


@dataclass
class Classification:
    kind: str = "mail"  # mail | bounce | autoreply
    no_autoresponse: list[str] = field(default_factory=list)  # reasons
    bounce: Bounce | None = None

    @property
    def may_autorespond(self) -> bool:
        return not self.no_autoresponse


def classify(mail: ParsedMail, envelope: Envelope, config: Config) -> Classification:
    result = Classification()
    auto = (mail.header("Auto-Submitted") or "no").strip().lower()
    if auto != "no":
        result.kind = "autoreply"
        result.no_autoresponse.append(f"Auto-Submitted: {auto}")
    if not envelope.sender:
        result.no_autoresponse.append("null sender")
    return result
