"""Match a DSN to the ticket whose outbound mail bounced (VERP id, or a Message-ID we sent)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk.outbound.verp import verp_valid
from maildesk.store.models import MessageIdRow, OutboxMail, Ticket

__all__ = ["match_bounce"]


def match_bounce(session: Session, secret: bytes, verp_id: int | None, verp_sig: str | None,
                 message_ids: Sequence[str]) -> Ticket | None:
    """A VERP id counts only with its signature (anyone can write `bounces+N@`); then a
    Message-ID we sent, named in the DSN (known only to who received that mail)."""
    if verp_id is not None and verp_valid(secret, verp_id, verp_sig):
        mail = session.get(OutboxMail, verp_id)
        if mail is not None and mail.ticket_id is not None:
            return session.get(Ticket, mail.ticket_id)
    for mid in message_ids:
        ticket_id = session.execute(
            select(MessageIdRow.ticket_id).where(
                MessageIdRow.message_id == mid[:191], MessageIdRow.direction == "out"
            )
        ).scalar()
        if ticket_id is not None:
            return session.get(Ticket, ticket_id)
    return None
