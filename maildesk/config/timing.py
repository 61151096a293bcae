"""Time in the config (SPEC 13): `calendars:`, a queue's `sla:`, helpdesk levels
(`escalate_to` + `escalate_after`), the instance's `timezone`; and the checks across them
(a calendar an SLA names exists, a level's target exists, levels never form a cycle)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from yaml.nodes import Node, ScalarNode

from maildesk.config.values import parse_duration
from maildesk.config.walker import Entries, Walker
from maildesk.timers.calendar import Calendar, parse_hours, parse_timezone

__all__ = ["CALENDAR_KEYS", "SLA_KEYS", "SlaSpec", "check_levels", "read_calendars", "sla",
           "timezone"]

SLA_KEYS = ("first_response", "update", "solution", "calendar", "warn_before")
CALENDAR_KEYS = {
    "timezone": "tz database name (Europe/Madrid); default: the instance's timezone",
    "hours": 'weekly business hours: {mon-fri: "09:00-17:00", sat: "10:00-13:00"}',
    "holidays": "dates without business hours: [2026-12-25, 2027-01-01]",
}


@dataclass(frozen=True)
class SlaSpec:
    """A queue's `sla:` as written; durations in seconds of business time."""

    first_response: float | None = None
    update: float | None = None
    solution: float | None = None
    calendar: str | None = None  # a name under `calendars:`; None: 24x7
    warn_before: float = 0.0


def timezone(w: Walker, node: Node, where: str) -> str | None:
    value = w.text(node, where)
    if value is None:
        return None
    try:
        parse_timezone(value)
    except ValueError as exc:
        w.problem(node, f"{where}: {exc}")
        return None
    return value


def _duration(w: Walker, node: Node, where: str) -> float | None:
    value: float | None = w.converted(node, where, parse_duration)
    if value is not None and value <= 0:
        w.problem(node, f"{where}: must be longer than 0")
        return None
    return value


def sla(w: Walker, node: Node, where: str) -> SlaSpec | None:
    """`{first_response: 4h, update: 8h, solution: 2d, calendar: default, warn_before: 30m}`."""
    entries = w.mapping(node, where, SLA_KEYS)
    kw: dict[str, Any] = {}
    for key in ("first_response", "update", "solution", "warn_before"):
        if key in entries:
            kw[key] = _duration(w, entries[key][1], f"{where}.{key}")
    if "calendar" in entries:
        name = w.text(entries["calendar"][1], f"{where}.calendar")
        known = w.known.get("calendars")
        if name is not None and known is not None and name not in known:
            w.problem(entries["calendar"][1], f"{where}.calendar: unknown calendar '{name}' "
                                              f"(calendars: {', '.join(known) or 'none defined'})")
        kw["calendar"] = name
    if not any(kw.get(k) for k in ("first_response", "update", "solution")):
        w.problem(node, f"{where}: names no clock (first_response, update or solution)")
    return SlaSpec(**{k: v for k, v in kw.items() if v is not None})


def read_calendars(w: Walker, node: Node, default_zone: str) -> dict[str, Calendar]:
    out: dict[str, Calendar] = {}
    for name, (_, cnode) in w.mapping(node, "calendars", None).items():
        where = f"calendars.{name}"
        entries = w.mapping(cnode, where, tuple(CALENDAR_KEYS))
        zone_text = default_zone
        if "timezone" in entries:
            zone_text = timezone(w, entries["timezone"][1], f"{where}.timezone") or default_zone
        hours: Any = None
        if "hours" not in entries:
            w.problem(cnode, f"{where}: missing required key 'hours'")
            continue
        hnode = entries["hours"][1]
        spec = {k: _scalar_or_list(w, v, f"{where}.hours.{k}")
                for k, (_, v) in w.mapping(hnode, f"{where}.hours", None).items()}
        try:
            hours = parse_hours(spec)
        except ValueError as exc:
            w.problem(hnode, f"{where}.hours: {exc}")
            continue
        holidays = _dates(w, entries["holidays"][1], f"{where}.holidays") \
            if "holidays" in entries else frozenset()
        out[name] = Calendar(name, parse_timezone(zone_text), hours, holidays)
    return out


def _scalar_or_list(w: Walker, node: Node, where: str) -> object:
    if isinstance(node, ScalarNode):
        return w.text(node, where) or ""
    return [text for text, _ in w.names(node, where)]


def _dates(w: Walker, node: Node, where: str) -> frozenset[date]:
    out: set[date] = set()
    for item in w.sequence(node, where):
        value = item.value if isinstance(item, ScalarNode) else None
        try:
            out.add(date.fromisoformat(str(value)))
        except ValueError:
            w.problem(item, f"{where}: not a date like 2026-12-25: {value!r}")
    return frozenset(out)


def check_levels(w: Walker, queues: list[tuple[Any, Entries]]) -> None:
    """`escalate_to` names another queue, comes with `escalate_after`, and following the
    levels never leads back to where it started (a ticket would circle forever)."""
    names = {q.name for q, _ in queues}
    target: dict[str, str] = {}
    for q, entries in queues:
        to, after = q.escalate_to, q.escalate_after
        if (to is None) != (after is None):
            key = "escalate_to" if to is not None else "escalate_after"
            w.problem(entries[key][1], f"queue '{q.name}': escalate_to and escalate_after "
                                       "go together")
            continue
        if to is None:
            continue
        if to not in names:
            w.problem(entries["escalate_to"][1], f"queue '{q.name}': escalate_to: unknown "
                                                 f"queue '{to}' (queues: {', '.join(names)})")
        else:
            target[q.name] = to
    reported: set[str] = set()
    for q, entries in queues:
        path, here = [q.name], target.get(q.name)
        while here is not None and here not in path:
            path.append(here)
            here = target.get(here)
        if here is not None and q.name == here and q.name not in reported:
            reported.update(path)
            w.problem(entries["escalate_to"][1], f"queue '{q.name}': escalate_to makes a "
                                                 f"cycle: {' -> '.join([*path, here])}")
