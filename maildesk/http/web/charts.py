"""Server-rendered SVG charts for the supervisors' dashboard.

Pure functions from numbers and already-translated labels to an SVG string (`Markup`, so a
template inserts it as is): no script, no `style` attribute (a strict CSP blocks both), only
presentation attributes, so they render the same with or without the page's stylesheet.
Every chart is an `img` with a `<title>` and `<desc>` for screen readers, and every bar has
its own `<title>` (the browser shows it on hover); the page puts the numbers in a table too.
Every text from outside (queue names) is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["PALETTE", "Bar", "Series", "bullet_chart", "column_chart", "nice_ticks",
           "stacked_bar_chart"]

# Okabe-Ito: told apart by people with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
INK, GRID, MUTED, ALERT = "#222222", "#dddddd", "#666666", "#D55E00"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


@dataclass(frozen=True)
class Series:
    """One named row of values, one value per label of the chart."""

    name: str
    values: Sequence[float]


@dataclass(frozen=True)
class Bar:
    """A bullet chart's row: a value against a target (None: no target for this row)."""

    label: str
    value: float
    target: float | None = None
    note: str = ""  # shown after the value ("82% within", "12 answered")


def nice_ticks(top: float, count: int = 5, *, whole: bool = False) -> list[float]:
    """Axis ticks from 0 to a round number >= `top` (steps of 1, 2 or 5 times a power of
    10); `whole`: steps of at least 1 (counts of tickets have no halves)."""
    if not math.isfinite(top) or top <= 0:
        return [0.0, 1.0]
    raw = top / max(count - 1, 1)
    if whole:
        raw = max(raw, 1.0)
    power = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if whole and power < 10 else (1, 2, 2.5, 5, 10)
    step = next(m * power for m in steps if m * power >= raw)
    ticks = [0.0]
    while ticks[-1] < top - 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _num(value: float) -> str:
    """A coordinate: short, no exponent."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _label(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:,.0f}"


def _open(chart_id: str, width: int, height: int, title: str, desc: str) -> list[str]:
    cid = escape(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'aria-labelledby="{cid}-title {cid}-desc" font-family="{FONT}" font-size="12" '
        f'fill="{INK}">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(desc)}</desc>',
    ]


def _legend(names: Sequence[str], x: float, y: float) -> list[str]:
    out, cursor = ['<g class="legend" aria-hidden="true">'], x
    for i, name in enumerate(names):
        out.append(f'<rect x="{_num(cursor)}" y="{_num(y - 9)}" width="10" height="10" '
                   f'rx="2" fill="{PALETTE[i % len(PALETTE)]}"/>')
        out.append(f'<text x="{_num(cursor + 14)}" y="{_num(y)}">{escape(name)}</text>')
        cursor += 14 + 7.5 * len(name) + 18
    out.append("</g>")
    return out


def column_chart(
    chart_id: str, title: str, desc: str, labels: Sequence[str], series: Sequence[Series],
    *, width: int = 720, height: int = 280, empty: str = "No data",
) -> Markup:
    """Grouped columns: one group per label (a day), one column per series (opened,
    closed). Labels are thinned to about 12 so they never overlap."""
    left, right, top, bottom = 44, 12, 30, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    out = _open(chart_id, width, height, title, desc)
    out += _legend([s.name for s in series], left, 16)
    peak = max((v for s in series for v in s.values), default=0)
    ticks = nice_ticks(peak, whole=True)
    scale = plot_h / ticks[-1]
    for tick in ticks:
        y = top + plot_h - tick * scale
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{_num(y)}" y2="{_num(y)}" '
                   f'stroke="{GRID}" stroke-width="1"/>')
        out.append(f'<text x="{left - 6}" y="{_num(y + 4)}" text-anchor="end" '
                   f'fill="{MUTED}">{_label(tick)}</text>')
    if not labels or peak <= 0:
        out.append(f'<text x="{_num(left + plot_w / 2)}" y="{_num(top + plot_h / 2)}" '
                   f'text-anchor="middle" fill="{MUTED}" font-size="14">{escape(empty)}</text>')
    else:
        group = plot_w / len(labels)
        gap = min(group * 0.2, 8)
        col = (group - gap) / max(len(series), 1)
        every = max(1, math.ceil(len(labels) / 12))
        for i, label in enumerate(labels):
            x0 = left + i * group + gap / 2
            for j, s in enumerate(series):
                value = s.values[i] if i < len(s.values) else 0
                h = value * scale
                out.append(
                    f'<rect x="{_num(x0 + j * col)}" y="{_num(top + plot_h - h)}" '
                    f'width="{_num(max(col - 1, 1))}" height="{_num(h)}" '
                    f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(label)}: '
                    f'{escape(s.name)} {_label(value)}</title></rect>')
            if i % every == 0:
                out.append(f'<text x="{_num(x0 + (group - gap) / 2)}" y="{height - bottom + 16}" '
                           f'text-anchor="middle" fill="{MUTED}">{escape(label)}</text>')
    out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" '
               f'y2="{top + plot_h}" stroke="{INK}" stroke-width="1"/>')
    out.append("</svg>")
    return Markup("\n".join(out))


def stacked_bar_chart(
    chart_id: str, title: str, desc: str, labels: Sequence[str], series: Sequence[Series],
    *, width: int = 720, row: int = 30, empty: str = "No data",
) -> Markup:
    """Horizontal bars, one per label (a queue), split into the series (states), with the
    total at the end of each bar."""
    label_w = min(200, 16 + 7 * max((len(x) for x in labels), default=4))
    left, right, top = label_w, 56, 30
    plot_w = width - left - right
    height = top + max(len(labels), 1) * row + 24
    out = _open(chart_id, width, height, title, desc)
    out += _legend([s.name for s in series], 8, 16)
    totals = [sum(s.values[i] for s in series if i < len(s.values)) for i in range(len(labels))]
    peak = max(totals, default=0)
    if not labels or peak <= 0:
        out.append(f'<text x="{_num(width / 2)}" y="{top + row / 2 + 4}" text-anchor="middle" '
                   f'fill="{MUTED}" font-size="14">{escape(empty)}</text>')
        out.append("</svg>")
        return Markup("\n".join(out))
    ticks = nice_ticks(peak, whole=True)
    scale = plot_w / ticks[-1]
    bottom = top + len(labels) * row
    for tick in ticks:
        x = left + tick * scale
        out.append(f'<line x1="{_num(x)}" x2="{_num(x)}" y1="{top}" y2="{bottom}" '
                   f'stroke="{GRID}" stroke-width="1"/>')
        out.append(f'<text x="{_num(x)}" y="{bottom + 16}" text-anchor="middle" '
                   f'fill="{MUTED}">{_label(tick)}</text>')
    for i, label in enumerate(labels):
        y = top + i * row + 5
        shown = label if len(label) <= 28 else label[:27] + "\u2026"
        out.append(f'<text x="{left - 8}" y="{_num(y + row / 2)}" text-anchor="end">'
                   f'<title>{escape(label)}</title>{escape(shown)}</text>')
        x = float(left)
        for j, s in enumerate(series):
            value = s.values[i] if i < len(s.values) else 0
            if value <= 0:
                continue
            w = value * scale
            out.append(f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" '
                       f'height="{row - 10}" fill="{PALETTE[j % len(PALETTE)]}">'
                       f'<title>{escape(label)}: {escape(s.name)} {_label(value)}</title></rect>')
            x += w
        out.append(f'<text x="{_num(x + 6)}" y="{_num(y + row / 2)}" font-weight="600">'
                   f'{_label(totals[i])}</text>')
    out.append("</svg>")
    return Markup("\n".join(out))


def bullet_chart(
    chart_id: str, title: str, desc: str, bars: Sequence[Bar], *, unit: str = "h",
    value_name: str = "", target_name: str = "SLA", over_name: str = "over the SLA",
    width: int = 720, row: int = 34, empty: str = "No data",
) -> Markup:
    """One bar per row (a queue's median first response) with its target (the SLA) as a
    tick; a bar past its target is drawn in the alert colour, so a breach is seen at once."""
    label_w = min(200, 16 + 7 * max((len(b.label) for b in bars), default=4))
    left, right, top = label_w, 150, 30
    plot_w = width - left - right
    height = top + max(len(bars), 1) * row + 24
    out = _open(chart_id, width, height, title, desc)
    key = 30 + 7.5 * len(value_name)
    alert = key + 22 + 7.5 * len(target_name)
    out += [f'<g class="legend" aria-hidden="true"><rect x="8" y="7" width="10" height="10" '
            f'rx="2" fill="{PALETTE[0]}"/><text x="22" y="16">{escape(value_name)}</text>'
            f'<line x1="{_num(key)}" x2="{_num(key)}" y1="5" y2="19" stroke="{INK}" '
            f'stroke-width="3"/><text x="{_num(key + 8)}" y="16">{escape(target_name)}</text>'
            f'<rect x="{_num(alert)}" y="7" width="10" height="10" rx="2" fill="{ALERT}"/>'
            f'<text x="{_num(alert + 14)}" y="16">{escape(over_name)}</text></g>']
    peak = max([b.value for b in bars] + [b.target or 0 for b in bars], default=0)
    if not bars or peak <= 0:
        out.append(f'<text x="{_num(width / 2)}" y="{top + row / 2 + 4}" text-anchor="middle" '
                   f'fill="{MUTED}" font-size="14">{escape(empty)}</text>')
        out.append("</svg>")
        return Markup("\n".join(out))
    ticks = nice_ticks(peak)
    scale = plot_w / ticks[-1]
    bottom = top + len(bars) * row
    for tick in ticks:
        x = left + tick * scale
        out.append(f'<line x1="{_num(x)}" x2="{_num(x)}" y1="{top}" y2="{bottom}" '
                   f'stroke="{GRID}" stroke-width="1"/>')
        out.append(f'<text x="{_num(x)}" y="{bottom + 16}" text-anchor="middle" '
                   f'fill="{MUTED}">{_label(tick)}{escape(unit)}</text>')
    for i, bar in enumerate(bars):
        y = top + i * row + 6
        h = row - 12
        over = bar.target is not None and bar.value > bar.target
        shown = bar.label if len(bar.label) <= 28 else bar.label[:27] + "\u2026"
        out.append(f'<text x="{left - 8}" y="{_num(y + h / 2 + 4)}" text-anchor="end">'
                   f'<title>{escape(bar.label)}</title>{escape(shown)}</text>')
        what = f"{bar.label}: {_label(round(bar.value, 1))}{unit}"
        if bar.target is not None:
            what += f" ({target_name} {_label(round(bar.target, 1))}{unit})"
        out.append(f'<rect x="{left}" y="{_num(y)}" width="{_num(max(bar.value * scale, 1))}" '
                   f'height="{h}" fill="{ALERT if over else PALETTE[0]}">'
                   f'<title>{escape(what)}</title></rect>')
        if bar.target is not None:
            tx = left + bar.target * scale
            out.append(f'<line x1="{_num(tx)}" x2="{_num(tx)}" y1="{_num(y - 4)}" '
                       f'y2="{_num(y + h + 4)}" stroke="{INK}" stroke-width="3"/>')
        end = left + max(bar.value, bar.target or 0) * scale + 8
        text = f"{_label(round(bar.value, 1))}{unit}" + (f" · {bar.note}" if bar.note else "")
        out.append(f'<text x="{_num(end)}" y="{_num(y + h / 2 + 4)}"'
                   f'{" fill=" + chr(34) + ALERT + chr(34) if over else ""}>'
                   f'{escape(text)}</text>')
    out.append("</svg>")
    return Markup("\n".join(out))
