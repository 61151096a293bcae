"""`/dashboard`: the supervisors' page (SPEC 15). Tickets opened and closed per day, the
backlog by queue, first responses against the SLA, as SVG charts drawn on the server
(charts.py) with the same numbers in tables beside them.

Who is a supervisor: an agent with `supervisor: true` in the config; the dashboard covers
the queues that agent may `read`, nothing else. Other agents get 403, customers and
strangers the login page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from babel.dates import format_skeleton
from babel.numbers import format_decimal, format_percent
from fastapi import APIRouter
from markupsafe import Markup
from starlette.responses import Response

from maildesk.core.dashboard import BACKLOG_GROUPS, OTHER, Dashboard, collect
from maildesk.core.ticket_list import readable_queues
from maildesk.http.web import charts
from maildesk.http.web.lang import translations
from maildesk.http.web.render import NAV, NavItem, page
from maildesk.http.web.viewer import AgentViewer, Seen, WebError
from maildesk.i18n import N_

__all__ = ["PERIODS", "router"]

router = APIRouter(include_in_schema=False)
PERIODS = (7, 30, 90)  # days a supervisor can choose; anything else is 30
NAV.append(NavItem("/dashboard", N_("Dashboard"), "supervisor"))


@dataclass(frozen=True)
class Figure:
    """A chart and the table that says the same in numbers."""

    title: str
    svg: Markup
    head: list[str]
    rows: list[list[str]]


@router.get("/dashboard")
async def dashboard(seen: AgentViewer, days: str = "30") -> Response:
    agent = seen.agent
    if agent is None or not agent.supervisor:
        raise WebError(403, N_("This page is for supervisors."))
    period = int(days) if days.isdigit() and int(days) in PERIODS else 30
    rt = seen.ctx.rt
    config = rt.config
    queues = readable_queues(config, agent)
    zone = _zone(seen)
    now = datetime.now(UTC).replace(tzinfo=None)

    def read() -> Dashboard:
        with rt.db.reading() as session:
            return collect(session, config, queues, now, zone, period)

    data = await seen.ctx.run(read)
    return page(seen, "dashboard.html", page_title=N_("Dashboard"), period=period,
                periods=PERIODS, queues=queues, **_figures(data, seen.lang))


def _zone(seen: Seen) -> str | None:
    zone = getattr(seen.agent, "timezone", None) or seen.ctx.rt.config.instance.timezone
    return str(zone) if zone else None


def _hours(seconds: float | None) -> float:
    return round((seconds or 0.0) / 3600, 1)


def _figures(data: Dashboard, lang: str) -> dict[str, Any]:
    """The page's charts, tables and headline numbers, every word in `lang`."""
    t = translations(lang)
    _ = t.gettext

    def num(n: float) -> str:
        return format_decimal(n, locale=lang)

    def day(d: date) -> str:
        return format_skeleton("MMMd", d, locale=lang)

    labels = [day(d) for d in data.days]
    opened, closed = _("Opened"), _("Closed")
    flow = charts.column_chart(
        "flow", _("Tickets opened and closed per day"),
        _("%(opened)s opened and %(closed)s closed in %(days)s days.") % {
            "opened": num(sum(data.opened)), "closed": num(sum(data.closed)),
            "days": num(len(data.days))},
        labels, [charts.Series(opened, data.opened), charts.Series(closed, data.closed)],
        empty=_("No tickets opened or closed in this period."))
    flow_rows = [[label, num(o), num(c)] for label, o, c
                 in zip(labels, data.opened, data.closed, strict=True)]

    groups = [(key, _(name)) for key, name in BACKLOG_GROUPS]
    if any("other" in b.counts for b in data.backlog):
        groups.append(("other", _(OTHER)))
    backlog_total = sum(b.total for b in data.backlog)
    backlog = charts.stacked_bar_chart(
        "backlog", _("Backlog by queue"),
        _("Open tickets by queue and state: %(count)s in all.") % {
            "count": num(backlog_total)},
        [b.queue for b in data.backlog],
        [charts.Series(name, [b.counts.get(key, 0) for b in data.backlog])
         for key, name in groups],
        empty=_("Nothing is open. Well done."))
    backlog_rows = [[b.queue, *(num(b.counts.get(k, 0)) for k, _n in groups), num(b.total)]
                    for b in data.backlog]

    answered = [r for r in data.responses if r.answered]
    bars = []
    for r in answered:
        share = r.within_share
        note = (_("%(share)s within") % {"share": format_percent(share, locale=lang)}
                if share is not None else _("no SLA"))
        bars.append(charts.Bar(r.queue, _hours(r.median),
                               _hours(r.target) if r.target else None, note))
    response = charts.bullet_chart(
        "response", _("First response"),
        _("Median business hours to the first answer per queue, against its SLA."),
        bars, value_name=_("Median"), target_name=_("SLA"), over_name=_("Over the SLA"),
        empty=_("No ticket of this period has been answered yet."))
    dash = "\u2013"
    response_rows = [
        [r.queue, num(r.answered),
         num(_hours(r.median)) if r.median is not None else dash,
         num(_hours(r.p90)) if r.p90 is not None else dash,
         num(_hours(r.target)) if r.target else dash,
         format_percent(r.within_share, locale=lang) if r.within_share is not None else dash,
         num(r.overdue_now)]
        for r in data.responses]
    measured = sum(r.answered for r in data.responses)
    within = sum(r.within for r in data.responses if r.target)
    with_sla = sum(r.answered for r in data.responses if r.target)
    return {
        "figures": [
            Figure(_("Tickets opened and closed per day"), flow,
                   [_("Day"), opened, closed], flow_rows),
            Figure(_("Backlog by queue"), backlog,
                   [_("Queue"), *(n for _k, n in groups), _("Total")], backlog_rows),
            Figure(_("First response"), response,
                   [_("Queue"), _("Answered"), _("Median (h)"), _("90th percentile (h)"),
                    _("SLA (h)"), _("Within the SLA"), _("Waiting past the SLA now")],
                   response_rows),
        ],
        "tiles": [
            (_("Opened"), num(sum(data.opened))),
            (_("Closed"), num(sum(data.closed))),
            (_("Open now"), num(backlog_total)),
            (_("First responses within the SLA"),
             format_percent(within / with_sla, locale=lang) if with_sla else dash),
            (_("Waiting past the SLA now"), num(sum(r.overdue_now for r in data.responses))),
        ],
        "sampled": data.sampled,
        "measured": num(measured),
    }
