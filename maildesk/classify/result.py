"""What classification decides about one mail: its kind, the bounce it reports, and every
reason not to auto-respond to it, each with the rule that found it."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Bounce", "Classification"]


@dataclass
class Bounce:
    verp_id: int | None = None  # outbox id from bounces+ID-SIG@domain
    verp_sig: str | None = None  # its HMAC (outbound/verp.py); unsigned ids reach no ticket
    message_ids: list[str] = field(default_factory=list)  # original Message-IDs named
    status: str | None = None  # e.g. 5.1.1
    recipients: list[str] = field(default_factory=list)
    action: str | None = None  # failed | delayed | delivered | relayed | expanded
    report: str = "delivery-status"  # delivery-status | feedback-report | heuristic | verp


@dataclass
class Classification:
    kind: str = "mail"  # mail | bounce | autoreply
    no_autoresponse: list[str] = field(default_factory=list)  # reasons
    bounce: Bounce | None = None
    hits: list[str] = field(default_factory=list)  # names of the rules that matched, in order
    why: dict[str, list[str]] = field(default_factory=dict)  # each hit's reasons

    @property
    def may_autorespond(self) -> bool:
        return not self.no_autoresponse
