"""What an agent's DKIM signature must cover before a `dkim=pass` proves a command mail.

A pass says the signed parts are unchanged, nothing about the rest (RFC 6376 section 8):
- `l=` shorter than the body: text appended after it passes unseen;
- a header the signature does not cover can be added: an `In-Reply-To` or a `Subject`
  tag that threads a captured `/close` into another ticket, or a new `Message-ID` that
  makes a replay look like a new mail. So each header that chooses the ticket or names
  the mail (From, To, Subject, Message-ID, In-Reply-To, References) must be signed as
  many times as it occurs (a header signed once covers only its last occurrence);
- a signature has no expiry unless we give it one: `t=` must be no older than
  `instance.dkim_max_age`, and an `x=` must not be past.
Every signature aligned with the agent's domain must meet this (the Authentication-Results
do not say which one passed, and an extra bad one cannot make a good mail pass).
"""

from __future__ import annotations

import re
import time
from collections import Counter

from maildesk.reasons import N_, Reason

__all__ = ["COVERED", "signature_problem"]

COVERED = ("from", "to", "subject", "message-id", "in-reply-to", "references")
_FUTURE_SLACK = 900  # seconds a signer's clock may run ahead of ours


def _aligned(domain: str, agent_domain: str) -> bool:
    domain, agent_domain = domain.lower().strip("."), agent_domain.lower()
    return bool(domain) and (agent_domain == domain or agent_domain.endswith("." + domain))


def signature_problem(raw: bytes, agent_domain: str, max_age: float,
                      now: float | None = None) -> str:
    """Why the aligned DKIM signatures do not bind this mail, or "" when they do (or when
    there is none, for a DMARC pass on SPF alone)."""
    from dkim import rfc822_parse
    from dkim.canonicalization import CanonicalizationPolicy
    from dkim.util import parse_tag_value

    now = time.time() if now is None else now
    try:
        headers, body = rfc822_parse(raw)
    except Exception:
        return Reason(N_("the mail cannot be split into header and body for DKIM"))
    present = Counter(name.decode("ascii", "replace").strip().lower() for name, _ in headers)
    for name, value in headers:
        if name.lower() != b"dkim-signature":
            continue
        try:
            tags = parse_tag_value(re.sub(rb"\s+", b"", value))
        except Exception:
            continue  # unparseable: it cannot be the signature that passed
        if not _aligned(tags.get(b"d", b"").decode("ascii", "replace"), agent_domain):
            continue
        if b"l" in tags:
            try:
                length = int(tags[b"l"])
                canonical = CanonicalizationPolicy.from_c_value(tags.get(b"c")) \
                    .canonicalize_body(body)
            except Exception:
                return Reason(N_("the DKIM signature's l= cannot be checked"))
            if length < len(canonical):
                return Reason(N_("the DKIM signature (l=) leaves part of the body unsigned"))
        signed = Counter(h.strip().lower() for h in
                         tags.get(b"h", b"").decode("ascii", "replace").split(":"))
        for header in COVERED:
            if present[header] > signed[header]:
                return Reason(N_("the DKIM signature does not cover %(header)s"),
                              header=header.title())
        problem = _age_problem(tags, now, max_age)
        if problem:
            return problem
    return ""


def _age_problem(tags: dict[bytes, bytes], now: float, max_age: float) -> str:
    try:
        signed_at = int(tags[b"t"]) if b"t" in tags else None
        expires = int(tags[b"x"]) if b"x" in tags else None
    except ValueError:
        return Reason(N_("the DKIM signature's t= or x= is not a number"))
    if expires is not None and expires < now:
        return Reason(N_("the DKIM signature has expired (x=)"))
    if signed_at is None:
        return Reason(N_("the DKIM signature carries no time (t=): a replay could not be "
                         "told apart"))
    if signed_at > now + _FUTURE_SLACK:
        return Reason(N_("the DKIM signature is dated in the future (t=)"))
    if now - signed_at > max_age:
        return Reason(N_("the DKIM signature is too old (t=): a replay of an earlier mail?"))
    return ""
