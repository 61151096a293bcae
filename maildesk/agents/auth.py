"""Is this mail really from the agent it names? (SPEC 7, reliability P8/P9, tests 41-52.)

From alone never suffices: it is one header anyone can write. Two proofs count:

- the token: the mail came to the agent's tokened reply address (the token in the envelope
  recipient's sub-address, or inside a Message-ID of In-Reply-To/References, for servers that
  drop sub-addresses) bound to this agent and this ticket, no older than
  `instance.reply_token_max_age` (the token carries the day it was made), and both the
  envelope sender and the From are that agent;
- DKIM/DMARC: an Authentication-Results header that our own MTA added (its authserv-id is
  listed in `instance.trusted_authserv_ids`, and it sits in the topmost block, above any
  Received line that came from outside) shows `dkim=pass` aligned with the agent's domain
  (and its aligned signatures cover the whole body, the headers that choose the ticket, and
  are recent: `dkimcheck.py`), or `dmarc=pass` for it.

`require_token_and_dkim` (instance, or per queue) asks for both. Identity comes only from
a strictly parsed single From address taken from the raw header bytes; `X-Maildesk-*`
headers and the parser's decoded fields are never trusted for it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from maildesk.agents.dkimcheck import signature_problem
from maildesk.config import Agent, Config
from maildesk.intake.message import Envelope, ParsedMail
from maildesk.intake.parse import header_tree
from maildesk.reasons import N_, Reason
from maildesk.store.models import Ticket
from maildesk.tokens import expiry_problem, find_token, verify_token

__all__ = ["AuthResult", "authenticate", "carries_token", "strict_from"]

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_MSGID = re.compile(r"<([^<>\s]{1,998})>")


@dataclass
class AuthResult:
    """What the mail proves. `agent` is set only when the mail is accepted as theirs."""

    agent: Agent | None
    claimed: str | None  # the strictly parsed From address, or None when ambiguous
    token_agent: str | None = None  # whose reply token the mail carries, if any
    token: bool = False
    dkim: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.agent is not None

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) or "accepted"


def _raw_headers(raw: bytes) -> list[tuple[str, str]]:
    """Headers as written (unfolded, nothing decoded), top first."""
    msg = header_tree(raw)  # BytesHeaderParser's fields, without a copy of the whole mail
    return [(k, str(v)) for k, v in msg.items()]


def strict_from(raw: bytes) -> tuple[str | None, str]:
    """The single From addr-spec, lowercased, or (None, why) when identity is ambiguous."""
    froms = [v for k, v in _raw_headers(raw) if k.lower() == "from"]
    if len(froms) != 1:
        return None, Reason(N_("%(count)s From headers"), count=len(froms))
    value = " ".join(froms[0].split())
    if _CONTROL.search(froms[0].replace("\r\n", "").replace("\n", "")):
        return None, Reason(N_("control characters in From"))
    from flanker.addresslib import address  # 140 ms to import: only when an agent writes

    logging.getLogger("flanker").setLevel(logging.CRITICAL)
    parsed = address.parse(value, strict=True)
    addr = getattr(parsed, "address", None)
    if parsed is None or not isinstance(addr, str) or getattr(parsed, "addr_type", "email") \
            != "email":
        return None, Reason(N_("From is not one valid address"))
    addr = addr.lower()
    if "=?" in addr or "\x00" in addr or addr.count("@") != 1:
        return None, Reason(N_("encoded words inside the From address"))
    return addr, ""


def _tokens(mail: ParsedMail, envelope: Envelope, raw_headers: list[tuple[str, str]],
            config: Config) -> list[str]:
    """Token candidates: envelope recipients' sub-addresses, then Message-IDs referenced."""
    out: list[str] = []
    recipients = list(envelope.recipients) or mail.to + mail.cc
    for addr in recipients:
        local = addr.partition("@")[0]
        if "+" in local and config.queue_for_address(addr) is not None:
            out.append(local.split("+", 1)[1])
    for name, value in raw_headers:
        if name.lower() in ("in-reply-to", "references"):
            for mid in _MSGID.findall(value):
                token = find_token(mid)
                if token:
                    out.append(token)
    for mid in mail.in_reply_to + mail.references:
        token = find_token(mid)
        if token:
            out.append(token)
    return out


def carries_token(config: Config, secret: bytes, mail: ParsedMail, envelope: Envelope) -> bool:
    """Whether the mail answers an agent's notification (a valid token in the recipient
    or in a referenced Message-ID), whoever sent it: such mail is for the agents side,
    never a customer's follow-up, even when a forwarded notification is answered."""
    agents = [a.address for a in config.agents]
    return any(verify_token(secret, t, agents) is not None
               for t in _tokens(mail, envelope, [], config))


def _trusted_results(raw_headers: list[tuple[str, str]], trusted: tuple[str, ...]) -> list:
    """Authentication-Results our own MTA added: the topmost run with a trusted authserv-id,
    ended by the first untrusted one or by a Received line below them (what lies under it
    came from outside, whatever id it claims)."""
    import authres

    trusted_ids = {t.lower() for t in trusted}
    out: list[Any] = []
    for name, value in raw_headers:
        lname = name.lower()
        if lname == "received" and out:
            break
        if lname != "authentication-results":
            continue
        try:
            header = authres.AuthenticationResultsHeader.parse_value(" ".join(value.split()))
        except Exception:  # authres raises several types on garbage; garbage proves nothing
            break
        if (header.authserv_id or "").lower() not in trusted_ids:
            break
        out.append(header)
    return out


def _aligned(domain: str, agent_domain: str) -> bool:
    domain, agent_domain = domain.lower().strip("."), agent_domain.lower()
    return bool(domain) and (agent_domain == domain or agent_domain.endswith("." + domain))


def _dkim_proof(raw: bytes, raw_headers: list[tuple[str, str]], config: Config,
                agent_domain: str) -> tuple[bool, str]:
    headers = _trusted_results(raw_headers, config.instance.trusted_authserv_ids)
    if not headers:
        return False, Reason(N_("no Authentication-Results from a trusted MTA"))
    seen: set[str] = set()
    dkim_pass = dmarc_pass = False
    for header in headers:  # per method, the topmost header that reports it decides
        methods = {r.method.lower() for r in header.results}
        for result in header.results:
            method = result.method.lower()
            if method in seen or method not in ("dkim", "dmarc"):
                continue
            if result.result.lower() != "pass":
                continue
            props = {(p.type.lower(), p.name.lower()): (p.value or "") for p in result.properties}
            if method == "dkim":
                d = props.get(("header", "d"), "")
                i = props.get(("header", "i"), "").rpartition("@")[2]
                dkim_pass = dkim_pass or _aligned(d, agent_domain) or _aligned(i, agent_domain)
            else:
                dmarc_pass = dmarc_pass or props.get(("header", "from"), "").lower() == \
                    agent_domain
        seen |= methods
    if not (dkim_pass or dmarc_pass):
        return False, Reason(N_("no dkim=pass or dmarc=pass for %(domain)s"), domain=agent_domain)
    problem = signature_problem(raw, agent_domain, config.instance.dkim_max_age)
    if problem:
        return False, problem
    return True, ""


def authenticate(raw: bytes, mail: ParsedMail, envelope: Envelope, config: Config,
                 secret: bytes, ticket: Ticket) -> AuthResult:
    headers = _raw_headers(raw)
    claimed, why = strict_from(raw)
    result = AuthResult(agent=None, claimed=claimed)
    candidates = _tokens(mail, envelope, headers, config)
    everyone = [a.address for a in config.agents]
    result.token_agent = next((ref.agent for ref in (verify_token(secret, t, everyone)
                                                     for t in candidates) if ref), None)
    if claimed is None:
        result.reasons.append(Reason(N_("no unambiguous sender: %(why)s"), why=why))
        return result
    if mail.from_count > 1 or (mail.from_addr is not None and mail.from_addr != claimed):
        result.reasons.append(Reason(N_("no unambiguous sender: the From headers disagree")))
        return result
    agent = config.agent(claimed)
    if agent is None:
        result.reasons.append(Reason(N_("%(address)s is not an agent"), address=claimed))
        return result

    token_why = ""
    for token in candidates:
        ref = verify_token(secret, token, [agent.address])
        if ref is None:
            token_why = token_why or Reason(N_("the reply token is not this agent's"))
            continue
        if ref.ticket_id != ticket.id and ref.ticket_id not in _merged_ids(ticket):
            token_why = Reason(N_("the reply token belongs to another ticket"))
            continue
        if envelope.sender.lower() != agent.address:
            token_why = Reason(N_("the envelope sender is not the agent"))
            continue
        expired = expiry_problem(ref, config.instance.reply_token_max_age)
        if expired:
            token_why = expired
            continue
        result.token = True
        break
    else:
        token_why = token_why or Reason(N_("no reply token"))

    result.dkim, dkim_why = _dkim_proof(raw, headers, config, agent.address.rpartition("@")[2])

    queue = config.queue(ticket.queue)
    both = config.instance.require_token_and_dkim
    if queue is not None and queue.require_token_and_dkim is not None:
        both = queue.require_token_and_dkim
    accepted = (result.token and result.dkim) if both else (result.token or result.dkim)
    if accepted:
        result.agent = agent
    else:
        if not result.token:
            result.reasons.append(token_why)
        if not result.dkim:
            result.reasons.append(dkim_why)
        if both and (result.token or result.dkim):
            result.reasons.append(Reason(N_("this queue needs both the reply token and DKIM")))
    return result


def _merged_ids(ticket: Ticket) -> set[int]:
    """Tickets merged into this one: their tokens still belong here."""
    return {t.id for t in _merged_sources(ticket)}


def _merged_sources(ticket: Ticket) -> list[Ticket]:
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    session = object_session(ticket)
    if session is None:
        return []
    out: list[Ticket] = []
    frontier = [ticket.id]
    for _ in range(20):  # merge chains are short; the bound keeps a cycle harmless
        rows = list(session.execute(
            select(Ticket).where(Ticket.merged_into_id.in_(frontier))).scalars())
        if not rows:
            break
        out.extend(rows)
        frontier = [t.id for t in rows]
    return out
