"""Agents as users meet them: a customer writes in, the agent gets a notification, and
replies from a mail client to the personal reply address in it. Helpers build those replies
(and forgeries of them) as real mails and read the results back from `show --json` and the
outbox table."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import select

from maildesk.outbound.deferred import message_bytes
from maildesk.store.models import OutboxMail
from tests.conftest import Desk, desks_of, make_desk, server, simple_mail

TRUSTED = "mx.example.com"


def agent_desk(root: Path, *, require_both: bool = False, queue_both: str | None = None,
               **kwargs: object) -> Desk:
    """A desk whose MTA (authserv-id mx.example.com) is trusted for Authentication-Results."""
    desk = make_desk(root, **kwargs)  # type: ignore[arg-type]
    text = desk.config_path.read_text()
    extra = f"  trusted_authserv_ids: [{TRUSTED}]\n"
    if require_both:
        extra += "  require_token_and_dkim: true\n"
    text = text.replace("  name: Example Support\n", "  name: Example Support\n" + extra, 1)
    if queue_both:
        text = text.replace(f"  - name: {queue_both}\n",
                            f"  - name: {queue_both}\n    require_token_and_dkim: true\n", 1)
    desk.config_path.write_text(text)
    desk.config  # noqa: B018  (fails loudly on a config this helper broke)
    return desk


@pytest.fixture
def adesk(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Iterator[Desk]:
    """SQLite, or each database backend for tests marked `@pytest.mark.backends`."""
    database = None if backend == "sqlite" else server(request, backend).slot(0)
    yield agent_desk(tmp_path / "desk", database=database)


@pytest.fixture
def adesk_factory(request: pytest.FixtureRequest, tmp_path: Path,
                  backend: str) -> Callable[..., Desk]:
    return desks_of(agent_desk, request, tmp_path / "adesks", backend)


def outbox(desk: Desk, kind: str | None = None, to: str | None = None) -> list[EmailMessage]:
    app = desk.app()
    try:
        with app.db.transaction() as session:
            rows = session.execute(select(OutboxMail).order_by(OutboxMail.id)).scalars().all()
            out = []
            for row in rows:
                if kind is not None and row.kind != kind:
                    continue
                msg = message_from_bytes(message_bytes(session, app.config, row.raw,
                                                       row.spec_json, row.message_id),
                                         policy=default)
                if to is not None and to not in (msg.get("To") or ""):
                    continue
                out.append(msg)  # type: ignore[arg-type]
            return out
    finally:
        app.close()


@dataclass
class Notification:
    number: str
    reply_to: str  # support+TOKEN@example.com
    message_id: str  # with <>
    subject: str
    body: str


def notification(desk: Desk, number: str, agent: str = "alice@example.com") -> Notification:
    mails = [m for m in outbox(desk, "notification", agent)
             if f"#{number}]" in (m.get("Subject") or "")]
    assert mails, f"no notification for {agent} about {number}"
    msg = mails[-1]
    return Notification(number, str(msg["Reply-To"]).strip("<> "), str(msg["Message-ID"]),
                        str(msg["Subject"]), msg.get_content())


def new_ticket(desk: Desk, subject: str = "Printer on fire",
               to: str = "support@example.com", sender: str = "carol@example.org",
               message_id: str | None = None) -> str:
    outcome = desk.ingest(simple_mail(subject=subject, to=to, sender=sender,
                                      message_id=message_id), sender=sender, recipients=(to,))
    assert outcome.ticket, outcome
    return outcome.ticket


def reply(note: Notification, body: str, *, sender: str = "alice@example.com",
          name: str = "Alice Example", to: str | None = None,
          headers: list[tuple[str, str]] | None = None, from_header: str | None = None,
          in_reply_to: str | None = "notification", quote: bool = True) -> bytes:
    """A reply as a mail client writes it: text on top, the notification quoted below."""
    lines = [f"From: {from_header or f'{name} <{sender}>'}"]
    lines += [f"To: {to or note.reply_to}", f"Subject: Re: {note.subject}",
              f"Message-ID: <{uuid.uuid4().hex}@example.com>",
              "Date: Thu, 26 Nov 2026 09:00:00 +0000"]
    if in_reply_to == "notification":
        lines += [f"In-Reply-To: {note.message_id}", f"References: {note.message_id}"]
    elif in_reply_to:
        lines += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
    head = [f"{k}: {v}" for k, v in (headers or [])]
    text = body
    if quote:
        quoted = "\n".join("> " + x for x in note.body.splitlines()[:30])
        text += f"\n\nOn Wed, 25 Nov 2026 at 10:00, Example Support wrote:\n{quoted}\n"
    return ("\r\n".join(head + lines) + "\r\n\r\n" + text.replace("\n", "\r\n")).encode()


def send(desk: Desk, raw: bytes, note: Notification | None = None,
         sender: str = "alice@example.com", recipients: tuple[str, ...] | None = None):  # noqa: ANN201
    rcpt = recipients or ((note.reply_to,) if note else ("support@example.com",))
    return desk.ingest(raw, sender=sender, recipients=rcpt)


def events(shown: dict, name: str) -> list[dict]:
    return [h for h in shown["history"] if h["event"] == name]
