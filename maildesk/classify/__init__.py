"""What kind of mail this is, before threading: ordinary mail, a bounce or an auto-reply,
and every reason not to auto-respond to it (SPEC 8, RFC 3834).

The rules live one job per module: `loop` (the reasons not to answer, one named rule
each), `bounce` with `dsn` (the report, read from what the parser extracted), `mailman`
(Mailman's detectors for the recipients of non-standard reports) and `verp`,
and `autoreply`. Each rule has a name, a description and one check that returns its
reasons (`rule.Rule`); `classify` runs them in this order and records on the result the
name of every rule that matched (`hits`) and the reasons it gave (`why`), so every
decision can be read back.
"""

from __future__ import annotations

from maildesk.classify.autoreply import autoreply
from maildesk.classify.bounce import REPORT_REASONS, detect_bounce
from maildesk.classify.facts import facts
from maildesk.classify.loop import LOOP_RULES
from maildesk.classify.result import Bounce, Classification
from maildesk.classify.verp import verp_id, verp_sig
from maildesk.config import Config
from maildesk.intake.message import Envelope, ParsedMail
from maildesk.marks import is_system_sender

__all__ = ["Bounce", "Classification", "classify", "is_system_sender", "verp_id", "verp_sig"]


def classify(mail: ParsedMail, envelope: Envelope, config: Config) -> Classification:
    f = facts(mail, envelope, config)
    result = Classification()
    for rule in LOOP_RULES:
        reasons = rule.check(f)
        if reasons:
            result.hits.append(rule.name)
            result.why[rule.name] = reasons
            result.no_autoresponse.extend(reasons)
    bounce = detect_bounce(f)
    if bounce is not None:
        result.kind, result.bounce = "bounce", bounce
        hit = f"bounce:{bounce.report}"
        result.hits.append(hit)
        result.why[hit] = [REPORT_REASONS.get(bounce.report, bounce.report)]
        result.no_autoresponse.append(
            "bounce" if bounce.report != "feedback-report" else "abuse report")
        return result
    reasons = autoreply.check(f)
    if reasons:
        result.kind = "autoreply"
        result.hits.append(autoreply.name)
        result.why[autoreply.name] = reasons
        if not any(r.startswith(("Auto-Submitted", "X-Auto")) for r in result.no_autoresponse):
            result.no_autoresponse.append("auto-reply")
    return result
