"""Tickets as the CLI shows them: the `--json` shapes of SPEC 11 and a readable text form."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, bindparam, select
from sqlalchemy.orm import Session

from maildesk.store.models import Article, AttachmentRow, Customer, History, Ticket, Timer

__all__ = ["iso", "ticket_detail", "ticket_summary", "tickets_table", "ticket_text"]


def iso(value: datetime | None) -> str | None:
    """`2026-12-01T03:15:00Z` (the stored times are naive UTC); isoformat is a third of
    strftime's cost, and a ticket's detail formats one per article and history event."""
    if not value:
        return None
    if value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"


def _json(text: str) -> Any:
    """json.loads with the common empty values answered without the parser."""
    return [] if text == "[]" else {} if text == "{}" else json.loads(text)


def _json_many(texts: list[str]) -> list[Any]:
    """`_json` of each text, parsed as one array: one parser call for a ticket's hundred
    history details instead of a hundred (each stored text is one JSON value)."""
    try:
        values = json.loads("[" + ",".join(texts) + "]") if texts else []
    except ValueError:
        values = []
    if len(values) != len(texts):  # a text that is not one value: each on its own
        values = [_json(text) for text in texts]
    return values


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


_ARTICLE_COLUMNS = (Article.id, Article.message_id, Article.from_addr, Article.to_json,
                    Article.cc_json, Article.subject, Article.sender_type, Article.visibility,
                    Article.kind, Article.verified, Article.body, Article.raw_sha256,
                    Article.raw_key, Article.notes_json, Article.created_at)
_ATTACHMENT_COLUMNS = (AttachmentRow.article_id, AttachmentRow.filename,
                       AttachmentRow.content_type, AttachmentRow.size, AttachmentRow.sha256)
_HISTORY_COLUMNS = (History.event, History.actor, History.at, History.details_json)

# The detail's statements, built once with the ticket's id as a bound parameter and run on
# the session's connection (SQLAlchemy Core): a statement built per call costs its
# construction and cache key, and the ORM's execution path its compile state and loading,
# ~0.2 ms each on top of the query (issue 15: most of a 50-article GET's read).
_TID = bindparam("ticket_id", type_=Integer)
_BY_NUMBER = select(Ticket).where(Ticket.number == bindparam("number"))
_ATTACHMENTS = (select(*_ATTACHMENT_COLUMNS)
                .join(Article, Article.id == AttachmentRow.article_id)
                .where(Article.ticket_id == _TID).order_by(AttachmentRow.id))
_ARTICLES = select(*_ARTICLE_COLUMNS).where(Article.ticket_id == _TID).order_by(Article.id)
_HISTORY = (select(*_HISTORY_COLUMNS).where(History.ticket_id == _TID)
            .order_by(History.id))
_CLOCKS = ("first_response", "update", "solution")
_TIMERS = select(Timer.kind, Timer.deadline, Timer.stage).where(
    Timer.ticket_id == _TID, Timer.kind.in_(_CLOCKS))
_CUSTOMER_BY_ID = select(Customer.name, Customer.company).where(
    Customer.id == bindparam("customer_id"))
_CUSTOMER_BY_ADDRESS = select(Customer.name, Customer.company).where(
    Customer.address == bindparam("address"))


def _article(a: Any, attachments: list[dict[str, object]]) -> dict[str, object]:
    return {
        "id": a.id,
        "message_id": a.message_id,
        "from": a.from_addr,
        "to": _json(a.to_json),
        "cc": _json(a.cc_json),
        "subject": a.subject,
        "sender_type": a.sender_type,
        "visibility": a.visibility,
        "kind": a.kind,
        "verified": a.verified,
        "body": a.body,
        "attachments": attachments,
        "raw_sha256": a.raw_sha256 or a.raw_key,
        "notes": _json(a.notes_json),
        "created_at": iso(a.created_at),
    }


def ticket_detail(session: Session, number: str, ticket: Ticket | None = None
                  ) -> dict[str, object] | None:
    """The `show --json` object. Articles, attachments and history are read as plain rows
    (three statements, whatever their number): ORM objects for a ticket of 50 articles
    and their history cost 40 ms of CPU per read, most of the API's ticket GET (issue 15,
    bench/api.py). `ticket`: the row when the caller has it already."""
    if ticket is None:
        ticket = session.execute(_BY_NUMBER, {"number": number}).scalar_one_or_none()
    if ticket is None:
        return None
    session.flush()  # what a caller's transaction changed (the rows below skip autoflush)
    data = ticket_summary(ticket)
    conn = session.connection()
    data["customer_name"], data["customer_company"] = _customer(session, ticket)
    if ticket.merged_into_id:
        survivor = session.get(Ticket, ticket.merged_into_id)
        data["merged_into"] = survivor.number if survivor else None
    if ticket.linked_to_id:
        linked = session.get(Ticket, ticket.linked_to_id)
        data["linked_to"] = linked.number if linked else None
    data["escalations"] = escalations(session, ticket.id)
    tid = {"ticket_id": ticket.id}
    files: dict[int, list[dict[str, object]]] = {}
    for f in conn.execute(_ATTACHMENTS, tid).all():
        files.setdefault(f.article_id, []).append(
            {"filename": f.filename, "content_type": f.content_type, "size": f.size,
             "sha256": f.sha256})
    data["articles"] = [_article(a, files.get(a.id, []))
                        for a in conn.execute(_ARTICLES, tid).all()]
    history = conn.execute(_HISTORY, tid).all()
    details = _json_many([h.details_json for h in history])
    data["history"] = [{"event": h.event, "actor": h.actor, "at": iso(h.at), "details": d}
                       for h, d in zip(history, details, strict=True)]
    return data


def _customer(session: Session, ticket: Ticket) -> tuple[str | None, str | None]:
    """(name, company) of the ticket's customer row: the linked one, else (a ticket from
    before migration 0013) the row of its address; None where unknown."""
    params: dict[str, object]
    if ticket.customer_id is not None:
        query, params = _CUSTOMER_BY_ID, {"customer_id": ticket.customer_id}
    else:
        query, params = _CUSTOMER_BY_ADDRESS, {"address": (ticket.customer or "").lower()}
    row = session.connection().execute(query, params).first()
    if row is None:
        return None, None
    return row.name or None, row.company or None


def escalations(session: Session, ticket_id: int) -> dict[str, object]:
    """SPEC 13: when each SLA clock of the ticket is due (null: not running or stopped while
    pending), and which have passed their deadline."""
    out: dict[str, object] = {f"{c}_due": None for c in _CLOCKS}
    escalated: list[str] = []
    for row in session.connection().execute(_TIMERS, {"ticket_id": ticket_id}):
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


def _who(data: dict[str, object]) -> str:
    known = [str(v) for v in (data.get("customer_name"), data.get("customer_company")) if v]
    return f" ({', '.join(known)})" if known else ""


def ticket_text(data: dict[str, object]) -> str:
    lines = [
        f"Ticket {data['number']}: {data['title']}",
        f"  queue {data['queue']}, state {data['state']}, priority {data['priority']}, "
        f"owner {data['owner'] or '-'}{' (locked)' if data['locked'] else ''}",
        f"  customer {data['customer']}{_who(data)}, cc {', '.join(data['cc']) or '-'}, "  # type: ignore[arg-type]
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
