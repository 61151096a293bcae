"""Outbound mail stored as what to send, rendered by the sender (issue 20).

The auto-response and the notifications of an incoming mail are decided in the ingest
transaction as before: who gets them, the caps and loop marks, the language, the
Message-ID and every header. What is queued is a `Spec` (the template, its values, the
article it quotes), not the bytes: the sender renders it just before the relay gets it and
keeps the bytes in the row, so the SMTP client's 250 no longer waits for Jinja2 and the
email package. Rendering leaves the acknowledgement path, not the work.

What can be checked without rendering is checked at ingest (every address; the template
exists and compiles), so a broken template costs that one mail there, as before. What only
rendering finds (an error raised inside a template, a quoted article gone) is a failed
attempt of the row: `not built: ...` in `maildesk outbox`, a history line, retried with
backoff like a relay's 4xx and given up after `outbound.give_up_after`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk.commands import COMMANDS
from maildesk.config import Config
from maildesk.outbound.idsets import ids_in, ids_params, sized
from maildesk.outbound.outbox import evolve
from maildesk.outbound.render import (
    Texts,
    check_address,
    check_sender,
    checked_once,
    find_template,
    render_shared,
)
from maildesk.outbound.wire import built_bytes
from maildesk.store.db import execute_core
from maildesk.store.jsontext import json_encoder
from maildesk.store.models import Article, AttachmentRow

if TYPE_CHECKING:
    from maildesk.outbound.outbox import Claimed

__all__ = ["Loaded", "Spec", "command_help", "load_claimed", "message_bytes", "quote", "render",
           "render_claimed"]

log = logging.getLogger("maildesk.outbox")

# A notification quotes the first QUOTE_LINES lines of the customer's text, at most
# QUOTE_CHARS characters (cut at a line end), as OTRS's <OTRS_CUSTOMER_BODY[n]> quotes the
# first n lines; the template says how much more the ticket holds and where. A 100 KB
# mail quoted whole was ~70 KB of quoted-printable per agent, in the row and its WAL;
# quoted up to 16 KiB (200 lines), each notification still cost the sender ~0.9 ms more
# than a short one (the row's bytes, aiosmtplib's line-end and dot passes over them, the
# socket): 8 KiB, 100 lines (issue 20, bench/outbox.py --ingested 150 102400).
QUOTE_LINES = 100
QUOTE_CHARS = 8 * 1024
MAX_QUOTED = QUOTE_CHARS  # the name of old
WHAT = {"autoreply": "auto-response", "notification": "notification"}  # history words


def command_help() -> list[tuple[str, str]]:
    """(usage, what it does) for every command, from the registry: the notification footer."""
    return [(f"/{c.name} {c.argument_description}".rstrip(), c.description)
            for c in COMMANDS.values()]


_HELP: dict[tuple[object, ...], list[tuple[str, str]]] = {}


def _command_help() -> list[tuple[str, str]]:
    """`command_help`, made once per set of registered commands: the same list for every
    row lets `render_shared` see at once that it is the same."""
    names = tuple(COMMANDS.values())
    made = _HELP.get(names)
    if made is None:
        _HELP.clear()
        made = _HELP[names] = command_help()
    return made


def quote(body: str) -> str:
    """A notification's copy of the customer's text (`cut_quote`'s text)."""
    return cut_quote(body)[0]


def cut_quote(body: str) -> tuple[str, dict[str, int] | None]:
    """The first QUOTE_LINES lines of `body`, at most QUOTE_CHARS characters (cut at the
    last line end before them; inside a line only when it is that long), and what was left
    out: {"lines": n, "kb": k} (None when nothing was). A cut text ends with `[...]`."""
    cut = len(body)
    if body.count("\n", 0, QUOTE_CHARS + 1) >= QUOTE_LINES:  # else the loop finds fewer
        at = -1
        for _ in range(QUOTE_LINES):
            at = body.find("\n", at + 1, QUOTE_CHARS + 1)
        cut = at + 1  # QUOTE_LINES whole lines
    if cut > QUOTE_CHARS:
        end = body.rfind("\n", 0, QUOTE_CHARS)
        cut = end + 1 if end + 1 >= QUOTE_CHARS // 2 else QUOTE_CHARS
    # What is left out is only measured (issue 20: ~50 us of a 100 KB text went into
    # copies): `isspace` is `not strip()` without the stripped copy, and an ASCII text's
    # length is its UTF-8 length, without encoding it.
    rest = body[cut:]
    if not rest or rest.isspace():
        return body, None
    head = body[:cut]
    text = head + ("" if head.endswith("\n") else "\n") + "[...]\n"
    lines = rest.count("\n") + (not rest.endswith("\n"))
    size = len(rest) if rest.isascii() else len(rest.encode("utf-8", "replace"))
    return text, {"lines": lines, "kb": -(-size // 1024)}


def more_context(config: Config, number: str, more: dict[str, int] | None
                 ) -> dict[str, object] | None:
    """What the template says about the part of the text not quoted: how much, and the
    ticket's web page when `web.base_url` is set."""
    if more is None:
        return None
    base = config.web.base_url
    return {**more, "url": f"{base.rstrip('/')}/tickets/{number}" if base else ""}


@dataclass
class Spec:
    """One mail as the ingest decided it; `render` makes the bytes."""

    template: str
    language: str
    context: dict[str, Any]  # plain values (JSON): what the template sees
    from_name: str
    from_addr: str
    to: list[tuple[str, str]]
    subject: str
    extra: dict[str, str] = field(default_factory=dict)
    reply_to: str | None = None
    in_reply_to: str | None = None
    references: list[str] | None = None
    quote: int | None = None  # the article whose body and attachments the mail quotes
    commands: bool = False  # the command help of notifications, from the registry

    def check(self, config: Config, found: set[str] | None = None) -> None:
        """Fail now what would fail the render for sure: an address, the template.
        `found`: the languages this template was found in already (skipped; this one is
        added), for the mails of one event to several agents."""
        for _name, address in self.to:
            check_address(address)
        check_address(self.from_addr)
        if self.reply_to:  # a queue's address + a reply token: new per ticket, so
            check_sender(self.reply_to)  # check_address's answer, without its parse
        if found is None or self.language not in found:
            find_template(config, self.template, self.language)
            if found is not None:
                found.add(self.language)

    def dumps(self) -> str:
        """The fields as JSON; the same text as `asdict`'s, which first deep-copied the
        context (a cost in every ingest: the spec is written in the ingest transaction).
        One encoder and the field names made once: `json.dumps` with `separators` built a
        new encoder per call, and `fields()` filtered the class's fields per call (issue
        20: a quarter of this method's time, ~5 us a row; the text is the same); the
        encoder is `store.models.json_encoder`'s, without the per-call setup of
        `JSONEncoder.encode` (~6 us of a spec's ~16). The instance's own dict is that
        dict already when it holds the fields alone, in order (~1.2 us a spec)."""
        values = self.__dict__  # the fields in their order, as __init__ set them
        if len(values) != len(_FIELDS) or tuple(values) != _FIELDS:  # something else set
            values = {name: getattr(self, name) for name in _FIELDS}
        return _ENCODE(values)

    @classmethod
    def loads(cls, text: str) -> Spec:
        data = json.loads(text)
        data["to"] = [(n or "", a) for n, a in data["to"]]
        return cls(**data)


_FIELDS = tuple(f.name for f in fields(Spec))  # in the class's order, as asdict's were
_ENCODE = json_encoder(ensure_ascii=True, separators=(",", ":"))  # json.dumps(..., separators=)


Quoted = dict[int, tuple[str, dict[str, int] | None, list[dict[str, object]]]]


def _quoted(session: Session, ids: set[int]) -> Quoted:
    """(quoted text, what was left out, attachments) of the quoted articles: two SELECTs
    for a whole pass, each text cut once for all the agents it goes to."""
    if not ids:
        return {}
    bodies_of, files_of = _quoted_statements(size := sized(len(ids)))
    wanted = ids_params(sorted(ids), size)
    bodies: dict[int, str | None] = {
        row.id: row.body for row in execute_core(session, bodies_of, wanted)}
    files: dict[int, list[dict[str, object]]] = {i: [] for i in bodies}
    for row in execute_core(session, files_of, wanted):
        files[row.article_id].append({"filename": row.filename,
                                      "content_type": row.content_type, "size": row.size})
    return {i: (*cut_quote(body or ""), files[i]) for i, body in bodies.items()}


@lru_cache(maxsize=16)
def _quoted_statements(size: int | None) -> tuple[Any, Any]:
    """The two SELECTs, built once per size of the ids (outbound/idsets.py): built per
    pass with a bound parameter per id, each pass paid their cache keys and compilation
    (~1 ms a pass, issue 20); with one expanding parameter, its rendering per run."""
    return (select(Article.id, Article.body).where(ids_in(Article.id, size)),
            select(AttachmentRow.article_id, AttachmentRow.filename,
                   AttachmentRow.content_type, AttachmentRow.size)
            .where(ids_in(AttachmentRow.article_id, size)).order_by(AttachmentRow.id))


def render(config: Config, spec: Spec, message_id: str, quoted: Quoted | None = None,
           texts: Texts | None = None) -> bytes:
    """The mail's bytes, as the ingest would have built them (the Date is the render's).
    `texts`: the bodies rendered so far in this pass, which an equal render reuses (the
    notifications of one mail to each agent: render.render_shared)."""
    context = dict(spec.context)
    if spec.quote is not None:
        if spec.quote not in (quoted or {}):
            raise LookupError(f"the quoted article {spec.quote} is gone")
        body, more, attachments = (quoted or {})[spec.quote]
        number = str((context.get("ticket") or {}).get("number", ""))
        context.update(body=body, attachments=attachments,
                       more=more_context(config, number, more))
    if spec.commands:
        context["commands"] = _command_help()
    ticket = context.get("ticket")
    group = (spec.quote, str(ticket.get("number")) if isinstance(ticket, dict) else None)
    text = render_shared(config, spec.template, spec.language, context,
                         texts if texts is not None else Texts(), group)
    return built_bytes(  # wire_bytes(build_message(...)) without the Message
        from_name=spec.from_name, from_addr=spec.from_addr, to=spec.to,
        reply_to=spec.reply_to, subject=spec.subject, body=text, message_id=message_id,
        in_reply_to=spec.in_reply_to, references=spec.references, extra=spec.extra)


@dataclass
class Loaded:
    """What the rendering of a pass reads: the rows' specs (or why one could not be read)
    and the articles they quote. Read in the claim's transaction (outbound/batches.py), so
    rendering after its commit needs no transaction of its own."""

    specs: dict[int, Spec]
    broken: dict[int, str]
    quoted: Quoted


def load_claimed(session: Session, rows: list[Claimed]) -> Loaded:
    """The specs of `rows` and the articles they quote (two SELECTs for the pass)."""
    specs: dict[int, Spec] = {}
    broken: dict[int, str] = {}
    for row in rows:
        try:
            specs[row.id] = Spec.loads(row.spec or "")
        except (ValueError, TypeError, KeyError) as exc:
            broken[row.id] = f"bad spec: {type(exc).__name__}: {exc}"[:500]
    quoted = _quoted(session, {s.quote for s in specs.values() if s.quote is not None})
    return Loaded(specs, broken, quoted)


def render_claimed(session: Session | None, config: Config, rows: list[Claimed],
                   loaded: Loaded | None = None) -> tuple[list[Claimed], dict[int, str]]:
    """The sender's pass: rows without bytes rendered (`fresh`, so settle keeps the
    bytes), and the reason per row that could not be. `loaded`: what `load_claimed` read
    for `rows` (else it is read here, in `session`)."""
    if loaded is None:
        if session is None:
            raise TypeError("render_claimed needs a session or what load_claimed read")
        loaded = load_claimed(session, rows)
    specs, quoted = loaded.specs, loaded.quoted
    broken = dict(loaded.broken)
    texts = Texts()
    built: list[Claimed] = []
    with checked_once():  # a template's file is looked at once per pass, not per render
        for row in rows:
            spec = specs.get(row.id)
            if spec is None:
                continue
            try:
                raw = render(config, spec, row.message_id, quoted, texts)
            except Exception as exc:  # an admin's template, a gone article: this row only
                broken[row.id] = f"{type(exc).__name__}: {exc}"[:500]
                log.error("outbox %d: %s to %s not built: %s", row.id,
                          WHAT.get(row.kind, row.kind), ", ".join(row.recipients),
                          broken[row.id], extra={"outbound_failure": True})
                continue
            built.append(evolve(row, raw=raw, fresh=True))  # replace's result, cheaper
    return built, broken


def message_bytes(session: Session, config: Config, raw: bytes, spec: str | None,
                  message_id: str) -> bytes:
    """A row's bytes whether or not the sender got to it yet (`maildesk outbox`, tests)."""
    if raw or not spec:
        return raw
    parsed = Spec.loads(spec)
    ids = {parsed.quote} if parsed.quote is not None else set()
    return render(config, parsed, message_id, _quoted(session, ids))
