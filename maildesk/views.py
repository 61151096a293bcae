"""Tickets as the CLI shows them: the `--json` shapes of SPEC 11 and a readable text form."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from maildesk.store.models import Article, Ticket

__all__ = ["iso", "ticket_detail", "ticket_summary", "tickets_table", "ticket_text"]


def iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def ticket_summary(ticket: Ticket) -> dict[str, object]:
    return {
        "number": ticket.number,
        "title": ticket.title,
        "queue": ticket.queue,
        "state": ticket.state,
        "priority": ticket.priority,
        "owner": ticket.owner,
        "locked": ticket.locked,
        "customer": ticket.customer,
        "cc": ticket.cc,
        "tags": ticket.tags,
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "first_response_at": iso(ticket.first_response_at),
        "closed_at": iso(ticket.closed_at),
        "language": ticket.language,
        "pending_until": iso(ticket.pending_until),
    }


def _article(article: Article) -> dict[str, object]:
    return {
        "id": article.id,
        "message_id": article.message_id,
        "from": article.from_addr,
        "to": json.loads(article.to_json),
        "cc": json.loads(article.cc_json),
        "subject": article.subject,
        "sender_type": article.sender_type,
        "visibility": article.visibility,
        "kind": article.kind,
        "verified": article.verified,
        "body": article.body,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size,
             "sha256": a.sha256}
            for a in article.attachments
        ],
        "raw_sha256": article.raw_sha256 or article.raw_key,
        "notes": json.loads(article.notes_json),
        "created_at": iso(article.created_at),
    }


def ticket_detail(session: Session, number: str) -> dict[str, object] | None:
    ticket = session.execute(
        select(Ticket).where(Ticket.number == number).options(
            selectinload(Ticket.articles).selectinload(Article.attachments),
            selectinload(Ticket.history),
        )
    ).scalar_one_or_none()
    if ticket is None:
        return None
    data = ticket_summary(ticket)
    if ticket.merged_into_id:
        survivor = session.get(Ticket, ticket.merged_into_id)
        data["merged_into"] = survivor.number if survivor else None
    if ticket.linked_to_id:
        linked = session.get(Ticket, ticket.linked_to_id)
        data["linked_to"] = linked.number if linked else None
    data["escalations"] = escalations(session, ticket.id)
    data["articles"] = [_article(a) for a in ticket.articles]
    data["history"] = [
        {"event": h.event, "actor": h.actor, "at": iso(h.at), "details": json.loads(h.details_json)}
        for h in ticket.history
    ]
    return data


def escalations(session: Session, ticket_id: int) -> dict[str, object]:
    """SPEC 13: when each SLA clock of the ticket is due (null: not running or stopped while
    pending), and which have passed their deadline."""
    from maildesk.store.models import Timer

    out: dict[str, object] = {f"{c}_due": None for c in ("first_response", "update",
                                                          "solution")}
    escalated: list[str] = []
    for row in session.scalars(select(Timer).where(
            Timer.ticket_id == ticket_id,
            Timer.kind.in_(("first_response", "update", "solution")))):
        out[f"{row.kind}_due"] = iso(row.deadline)
        if row.stage >= 2:
            escalated.append(row.kind)
    out["escalated"] = sorted(escalated)
    return out


def tickets_table(rows: list[dict[str, object]]) -> str:
    if not rows:
        return "no tickets"
    lines = [f"{'NUMBER':<18} {'QUEUE':<12} {'STATE':<20} {'PRIO':<4} {'CUSTOMER':<28} TITLE"]
    for r in rows:
        lines.append(
            f"{r['number']!s:<18} {str(r['queue'])[:12]:<12} {str(r['state'])[:20]:<20} "
            f"{r['priority']!s:<4} {str(r['customer'])[:28]:<28} {str(r['title'])[:60]}"
        )
    return "\n".join(lines)


def ticket_text(data: dict[str, object]) -> str:
    lines = [
        f"Ticket {data['number']}: {data['title']}",
        f"  queue {data['queue']}, state {data['state']}, priority {data['priority']}, "
        f"owner {data['owner'] or '-'}{' (locked)' if data['locked'] else ''}",
        f"  customer {data['customer']}, cc {', '.join(data['cc']) or '-'}, "  # type: ignore[arg-type]
        f"tags {', '.join(data['tags']) or '-'}",  # type: ignore[arg-type]
        f"  created {data['created_at']}, updated {data['updated_at']}",
    ]
    for a in data["articles"]:  # type: ignore[attr-defined]
        lines.append("")
        lines.append(
            f"--- article {a['id']} {a['created_at']} {a['sender_type']}/{a['visibility']}"
            f"{'' if a['verified'] else ' UNVERIFIED'} from {a['from']}"
            + (f" DAMAGED ({a['damaged']})" if a.get("damaged") else "")
        )
        lines.append(f"Subject: {a['subject']}")
        for att in a["attachments"]:
            lines.append(f"[attachment {att['filename']} {att['content_type']} {att['size']} B]")
        lines.append(a["body"].rstrip())
    lines.append("")
    lines.append("--- history")
    for h in data["history"]:  # type: ignore[attr-defined]
        lines.append(f"{h['at']} {h['actor']}: {h['event']} {json.dumps(h['details'])}")
    return "\n".join(lines)
