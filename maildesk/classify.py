"""What kind of mail this is, before threading: ordinary mail, a bounce or an auto-reply,
and every reason not to auto-respond to it (SPEC 8, RFC 3834).

- A bounce is a DSN (RFC 3464: multipart/report; report-type=delivery-status), anything
  sent to our bounce address (VERP `bounces+ID@`), an ARF complaint, or a non-standard
  bounce: a null or mailer-daemon sender with a delivery-failure subject. Bounces never
  make tickets, so anything that looks like one is kept away from ticket creation.
- An auto-reply is a vacation or other robot answer: `Auto-Submitted` other than `no`,
  `X-Autoreply`/`X-Autorespond`, an MDN, or an auto-reply subject backed by a header
  signal (a null return path, Precedence, X-Auto-Response-Suppress ...). Subjects that can
  only be a robot's ("Auto reply: ...", Lotus Notes "AUTO: ... out of the office") count
  alone: the corpus has vacation replies that carry no header signal at all.
- Reasons not to auto-respond are collected for every mail, so each decision is auditable.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from email.message import Message
from email.policy import compat32

from maildesk.config import Config
from maildesk.intake.message import Envelope, ParsedMail
from maildesk.marks import REPLY_PREFIX, is_system_sender, loop_value

__all__ = ["Bounce", "Classification", "classify", "is_system_sender", "verp_id"]

MAX_DSN_BYTES = 4 * 1024 * 1024  # a DSN's verdict is at the top; the returned mail may be huge


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

    @property
    def may_autorespond(self) -> bool:
        return not self.no_autoresponse


_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered mail|delivery status notification|mail delivery (failed|failure|"
    r"system)|returned mail|failure notice|delivery failure|non-?delivery|nondeliverable|"
    r"delivery has failed|could not be delivered|unzustellbar|nicht zugestellt|"
    r"non remis|no se puede entregar|no entregado|mail system error",
    re.IGNORECASE,
)
# A subject that opens like this is a robot's on its own.
_AUTO_SUBJECT_STRONG = re.compile(
    r"^(?:auto(?:matic|matische)?[ -]?(?:reply|response|antwort|respuesta)|"
    r"out of (?:the )?office|abwesenheitsnotiz|automatische antwort|"
    r"respuesta autom[aá]tica|r[ée]ponse automatique|risposta automatica|"
    r"automatyczna odpowied\S*|autorespons\w*)\s*(?::|$|\])"
    r"|^auto:.*\bout of (?:the )?office\b",
    re.IGNORECASE,
)
# Anywhere in the subject, believed only with a header signal.
_AUTO_SUBJECT_WEAK = re.compile(
    r"auto(?:matic|matische)?[ -]?(?:reply|response|antwort)|out of (?:the )?office|"
    r"abwesenheit|respuesta autom[aá]tica|r[ée]ponse automatique|automatyczna|"
    r"vacation|urlaub|vacaciones|on leave|away from (?:the|my) office|"
    r"thank you for your (?:e-?mail|message)",
    re.IGNORECASE,
)
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_DSN_STATUS = re.compile(r"^Status:\s*([245]\.\d{1,3}\.\d{1,3})", re.IGNORECASE | re.MULTILINE)
_DSN_RECIPIENT = re.compile(r"^Final-Recipient:\s*[\w-]+\s*;\s*<?([^\s<>]+@[^\s<>]+)",
                            re.IGNORECASE | re.MULTILINE)
_BODY_MSGID = re.compile(r"^\s*Message-ID:\s*<([^<>\s]{1,250})>", re.IGNORECASE | re.MULTILINE)
_VERP = re.compile(r"\+(\d{1,18})(?:-([a-z2-7]{8}))?$")
_OUR_ID = re.compile(r"(?:^|\.)md-[0-9a-f]{8,}@", re.IGNORECASE)


def verp_id(config: Config, address: str) -> int | None:
    """The outbox id in `bounces+ID@domain`, when the address is our bounce address."""
    local, _, domain = address.lower().partition("@")
    b_local, _, b_domain = config.outbound.bounce_address.lower().partition("@")
    if domain != b_domain or local.split("+", 1)[0] != b_local:
        return None
    m = _VERP.search(local)
    return int(m.group(1)) if m else None


def verp_sig(config: Config, envelope: Envelope) -> str | None:
    """The signature part of a VERP recipient (`bounces+ID-SIG@`), checked by the matcher."""
    for rcpt in envelope.recipients:
        if verp_id(config, rcpt) is not None:
            m = _VERP.search(rcpt.lower().partition("@")[0])
            return m.group(2) if m else None
    return None


def _to_bounce_address(config: Config, envelope: Envelope) -> int | None | bool:
    for rcpt in envelope.recipients:
        vid = verp_id(config, rcpt)
        if vid is not None:
            return vid
    b = config.outbound.bounce_address.lower()
    return any(r.lower() == b for r in envelope.recipients)


def classify(mail: ParsedMail, envelope: Envelope, config: Config,
             raw: bytes | None = None) -> Classification:
    result = Classification()
    reasons = result.no_autoresponse
    sender = (envelope.sender or "").strip().lower()
    from_addr = (mail.from_addr or "").lower()
    subject = mail.subject or ""
    ctype = (mail.header("Content-Type") or mail.content_type or "").lower()

    # -- what the mail says about itself (RFC 3834 §2)
    if not sender or sender == "<>":
        reasons.append("null sender")
    return_path = (mail.header("Return-Path") or "").strip()
    null_return_path = return_path == "<>"
    auto = (mail.header("Auto-Submitted") or "no").strip().lower()
    auto_word = auto.split(";")[0].strip()
    if auto_word != "no":
        reasons.append(f"Auto-Submitted: {auto_word}")
    precedence = (mail.header("Precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        reasons.append(f"Precedence: {precedence}")
    for name in ("List-Id", "List-Unsubscribe", "List-Post"):
        if mail.header(name) is not None:
            reasons.append(f"mailing list ({name})")
            break
    suppress = {v.strip().lower() for v in (mail.header("X-Auto-Response-Suppress") or "")
                .split(",")}
    if suppress & {"all", "autoreply", "oof"}:
        reasons.append("X-Auto-Response-Suppress: " + (mail.header("X-Auto-Response-Suppress")
                                                       or "").strip())
    robot_header = next((h for h in ("X-Autoreply", "X-Autorespond", "X-Autoresponder",
                                     "X-Autogenerated") if mail.header(h) is not None), None)
    if robot_header:
        reasons.append(robot_header)
    for who in {sender, from_addr} - {""}:
        if is_system_sender(who):
            reasons.append(f"system sender: {who}")
        if config.is_system_address(who):
            reasons.append(f"our own address: {who}")
    loop_mark = loop_value(config).lower()
    for value in mail.header_all("X-Loop"):
        if value.strip().lower() in (loop_mark, "yes", "true"):
            reasons.append(f"X-Loop: {value.strip()}")
            break
    if mail.message_id and _is_our_message_id(config, mail.message_id):
        reasons.append("our own Message-ID")

    # -- bounces
    verp = _to_bounce_address(config, envelope)
    report_type = _param(ctype, "report-type") if ctype.startswith("multipart/report") else ""
    bounce: Bounce | None = None
    if report_type in ("delivery-status", "feedback-report"):
        bounce = _parse_report(raw, report_type) if raw is not None else Bounce(report=report_type)
    elif verp is not False and verp is not None:
        bounce = _parse_report(raw, "verp") if raw is not None else Bounce(report="verp")
    elif ((not sender or is_system_sender(sender) or is_system_sender(from_addr))
          and _BOUNCE_SUBJECT.search(subject)):
        bounce = _parse_report(raw, "heuristic") if raw is not None else Bounce(report="heuristic")
    if bounce is not None:
        if isinstance(verp, int) and not isinstance(verp, bool):
            bounce.verp_id = verp
            bounce.verp_sig = verp_sig(config, envelope)
        if not bounce.recipients:
            bounce.recipients = [a.strip().lower() for v in mail.header_all("X-Failed-Recipients")
                                 for a in v.split(",") if a.strip()]
        result.kind, result.bounce = "bounce", bounce
        reasons.append("bounce" if bounce.report != "feedback-report" else "abuse report")
        return result

    # -- auto-replies (vacation, MDN, machine mail)
    header_signal = bool(
        auto_word != "no" or robot_header or null_return_path or not sender
        or precedence in ("bulk", "junk", "list", "auto_reply") or suppress - {""}
        or mail.header("X-MS-Exchange-Inbox-Rules-Loop") is not None
    )
    bare_subject = REPLY_PREFIX.sub("", subject).strip()
    if (auto_word != "no" or robot_header or report_type == "disposition-notification"
            or _AUTO_SUBJECT_STRONG.search(bare_subject)
            or (header_signal and _AUTO_SUBJECT_WEAK.search(subject))):
        result.kind = "autoreply"
        if not any(r.startswith(("Auto-Submitted", "X-Auto")) for r in reasons):
            reasons.append("auto-reply")
    return result


def _is_our_message_id(config: Config, message_id: str) -> bool:
    mid = message_id.strip("<>").lower()
    return mid.endswith("@" + config.instance.domain.lower()) and bool(_OUR_ID.search(mid))


def _param(ctype: str, name: str) -> str:
    m = re.search(rf";\s*{name}\s*=\s*\"?([\w.-]+)", ctype, re.IGNORECASE)
    return m.group(1).lower() if m else ""


def _parse_report(raw: bytes, report: str) -> Bounce:
    """Status, recipients and the returned Message-IDs from a DSN/ARF, tolerant of junk."""
    bounce = Bounce(report=report)
    try:
        msg = email.message_from_bytes(raw[:MAX_DSN_BYTES], policy=compat32)
    except Exception:  # noqa: BLE001 - the parser is fed hostile bytes; the mail is kept
        return bounce
    texts: list[str] = []
    for part in _walk(msg, 50):
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            _delivery_status(part, bounce)
        elif ctype == "text/rfc822-headers":
            _returned_ids(email.message_from_bytes(_body(part), policy=compat32), bounce)
        elif ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                _returned_ids(inner[0], bounce)
        elif ctype.startswith("text/") and len(texts) < 5:
            texts.append(_body(part)[:200_000].decode("utf-8", "replace"))
    if bounce.status is None and not msg.is_multipart():
        # A report whose MIME structure is broken: read the fields from the plain body.
        body = raw[:MAX_DSN_BYTES].replace(b"\r\n", b"\n").split(b"\n\n", 1)[-1]
        text = body[:200_000].decode("utf-8", "replace")
        texts.append(text)
        m = _DSN_STATUS.search(text)
        bounce.status = m.group(1) if m else None
        for rcpt in _DSN_RECIPIENT.findall(text):
            if rcpt.lower() not in bounce.recipients:
                bounce.recipients.append(rcpt.lower()[:254])
    if not bounce.message_ids:
        for text in texts:
            for mid in _BODY_MSGID.findall(text):
                if mid not in bounce.message_ids:
                    bounce.message_ids.append(mid)
    if bounce.status is None and report == "heuristic":
        for text in texts:
            m = _STATUS.search(text)
            if m:
                bounce.status = m.group(1)
                break
    return bounce


def _body(part: Message) -> bytes:
    """A leaf part's decoded bytes (empty for a multipart)."""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _walk(msg: Message, limit: int) -> list[Message]:
    """Parts depth-first, but not into the returned message's own parts."""
    out: list[Message] = []
    stack = [msg]
    while stack and len(out) < limit:
        part = stack.pop(0)
        out.append(part)
        if part.is_multipart() and part.get_content_type() != "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend(p for p in payload if isinstance(p, Message))
    return out


def _delivery_status(part: Message, bounce: Bounce) -> None:
    payload = part.get_payload()
    blocks = [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []
    if not blocks:  # some MTAs send it base64-encoded: the parser then leaves it as text
        text = _body(part).decode("utf-8", "replace").replace("\r\n", "\n")
        blocks = [email.message_from_string(b.strip() + "\n", policy=compat32)
                  for b in re.split(r"\n\s*\n", text) if b.strip()]
    for block in blocks:
        if not isinstance(block, Message):
            continue
        status = (block.get("Status") or "").strip()
        m = _STATUS.search(status)
        action = (block.get("Action") or "").strip().lower() or None
        recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
        if m and (bounce.status is None or (bounce.status[0] != "5" and m.group(1)[0] == "5")):
            bounce.status, bounce.action = m.group(1), action
        if recipient:
            addr = str(recipient).split(";", 1)[-1].strip().strip("<>").lower()
            if addr and addr not in bounce.recipients:
                bounce.recipients.append(addr[:254])


def _returned_ids(headers: Message, bounce: Bounce) -> None:
    for value in headers.get_all("Message-ID") or []:
        mid = str(value).strip().strip("<>").strip()
        if mid and " " not in mid and mid not in bounce.message_ids:
            bounce.message_ids.append(mid[:250])
