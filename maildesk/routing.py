"""Routing rules (SPEC 5): which queue a mail lands in, and what else the rules say.

Pure functions over the loaded config and the parsed mail: nothing is stored, so the
pipeline and `maildesk route-test` give the same answer for the same mail.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from maildesk.config import PRIORITY_NAMES, Config, Pattern, Rule, parse_priority
from maildesk.intake.message import Envelope, ParsedMail

__all__ = ["Route", "format_route", "route", "rule_matches"]

_PRIORITY_LABELS = {number: name for name, number in PRIORITY_NAMES.items()}


@dataclass
class Route:
    """Where a mail goes. None means: no rule said (defaults or the ticket's values stay)."""

    matched: list[str] = field(default_factory=list)  # names of the rules that matched
    queue: str = ""
    priority: int | None = None  # None = keep the default 3 / unchanged
    state: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    language: str | None = None
    autoresponse: bool = True
    ignore: bool = False
    reject: str | None = None
    rules: list[Rule] = field(default_factory=list)  # the matched rules (for their lines)
    default_queue: str = ""  # the queue before any rule ran
    followup: bool = False  # routed as a follow-up (only `followups: true` rules ran)


def route(
    config: Config,
    mail: ParsedMail,
    envelope: Envelope,
    *,
    known_customer: bool,
    followup: bool,
) -> Route:
    """Apply the rules in order; on a follow-up only rules marked `followups: true` run."""
    queue = _default_queue(config, mail, envelope)
    result = Route(queue=queue, default_queue=queue, followup=followup)
    for rule in config.rules:
        if followup and not rule.followups:
            continue
        if not rule_matches(rule, mail, envelope, known_customer=known_customer):
            continue
        _apply(rule, result)
        if rule.stop:
            break
    return result


def _default_queue(config: Config, mail: ParsedMail, envelope: Envelope) -> str:
    """The envelope decides (it is where the MTA delivered); headers only as a fallback,
    e.g. for `deliver` without --recipient."""
    for address in (*envelope.recipients, *mail.to, *mail.cc):
        queue = config.queue_for_address(address)
        if queue is not None:
            return queue.name
    return config.queues[0].name


def _apply(rule: Rule, result: Route) -> None:
    result.matched.append(rule.name)
    result.rules.append(rule)
    actions = rule.set
    if "queue" in actions:
        result.queue = str(actions["queue"])
    if "priority" in actions:
        result.priority = _priority(actions["priority"])
    if "state" in actions:
        result.state = str(actions["state"])
    if "owner" in actions:
        result.owner = str(actions["owner"]).lower()
    if "tags" in actions:
        tags = actions["tags"]
        new = (
            [tags]
            if isinstance(tags, str)
            else list(tags)
            if isinstance(tags, tuple | list)
            else []
        )
        result.tags = tuple(dict.fromkeys((*result.tags, *map(str, new))))
    if "language" in actions:
        result.language = str(actions["language"])
    if rule.autoresponse is not None:
        result.autoresponse = rule.autoresponse
    if rule.ignore:
        result.ignore = True
    if rule.reject:
        result.reject = rule.reject


def _priority(value: object) -> int:
    """The loader already normalises; this keeps hand-built Rules (tests, tools) working."""
    return value if isinstance(value, int) else parse_priority(str(value))


def rule_matches(rule: Rule, mail: ParsedMail, envelope: Envelope, *, known_customer: bool) -> bool:
    """All conditions of the rule hold (a rule without conditions matches every mail)."""
    if rule.has_attachment is not None and bool(mail.attachments) != rule.has_attachment:
        return False
    if rule.known_customer is not None and known_customer != rule.known_customer:
        return False
    for condition, patterns in rule.match.items():
        if not _any_match(patterns, _values(condition, mail, envelope)):
            return False
    for header, patterns in rule.headers.items():
        if not _any_match(patterns, mail.header_all(header)):
            return False
    return True


def _values(condition: str, mail: ParsedMail, envelope: Envelope) -> list[str]:
    """The strings a condition looks at; the condition holds when any of them matches."""
    if condition == "recipient":
        return list(envelope.recipients)
    if condition == "to":
        return list(mail.to)
    if condition == "cc":
        return list(mail.cc)
    if condition == "from":
        return [mail.from_addr] if mail.from_addr else []
    if condition == "sender_domain":
        address = mail.from_addr or envelope.sender
        domain = address.rpartition("@")[2] if address and "@" in address else ""
        return [domain] if domain else []
    if condition == "subject":
        return [mail.subject]
    if condition == "body":
        return [mail.body]
    raise ValueError(f"unknown match condition {condition!r}")


def _any_match(patterns: tuple[Pattern, ...], values: list[str]) -> bool:
    return any(p.matches(v) for p in patterns for v in values)


def format_route(route: Route) -> str:
    """Human text for `maildesk route-test`."""
    lines: list[str] = []
    if route.rules:
        lines.append("matching rules:")
        for rule in route.rules:
            flags = " (stop)" if rule.stop else ""
            lines.append(f"  line {rule.line}: {rule.name}{flags}")
    elif route.matched:
        lines.append("matching rules:")
        lines.extend(f"  {name}" for name in route.matched)
    else:
        lines.append("matching rules: none")
    queue = route.queue
    if route.default_queue and route.default_queue != route.queue:
        queue += f" (by address: {route.default_queue})"
    keep = "(unchanged)" if route.followup else "(default)"
    if route.priority is None:
        priority = "unchanged" if route.followup else "3 normal (default)"
    else:
        priority = f"{route.priority} {_PRIORITY_LABELS.get(route.priority, '')}".rstrip()
    rows = [
        ("queue", queue),
        ("priority", priority),
        ("state", route.state or ("unchanged" if route.followup else "new (default)")),
        ("owner", route.owner or f"- {keep}"),
        ("tags", ", ".join(route.tags) or "-"),
        ("language", route.language or f"- {keep}"),
        ("autoresponse", "yes" if route.autoresponse else "no (suppressed by a rule)"),
        ("ignore", "yes: nothing would be stored" if route.ignore else "no"),
        ("reject", f"yes: {route.reject}" if route.reject else "no"),
    ]
    lines.extend(f"{label + ':':<14}{value}" for label, value in rows)
    return "\n".join(lines)
