"""The dashboard's SVG charts: well-formed, accessible, escaped, nothing a strict CSP
blocks, and numbers that land where they should."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from maildesk.http.web.charts import (
    ALERT,
    PALETTE,
    Bar,
    Series,
    bullet_chart,
    column_chart,
    nice_ticks,
    stacked_bar_chart,
)

NS = {"svg": "http://www.w3.org/2000/svg"}


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # raises on anything not well-formed


def _accessible(root: ET.Element, chart_id: str, title: str) -> None:
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == f"{chart_id}-title {chart_id}-desc"
    assert root.find("svg:title", NS) is not None
    assert root.find("svg:title", NS).text == title  # type: ignore[union-attr]
    assert root.find("svg:title", NS).get("id") == f"{chart_id}-title"  # type: ignore[union-attr]
    assert root.find("svg:desc", NS).get("id") == f"{chart_id}-desc"  # type: ignore[union-attr]


def _csp_safe(markup: str) -> None:
    """No script, no event handler, no style attribute or element, no outside reference."""
    text = str(markup)
    assert "<script" not in text and "style" not in text
    assert not re.search(r"\son[a-z]+=", text)
    assert "href" not in text and "url(" not in text


@pytest.mark.parametrize(("top", "ticks"), [
    (0, [0, 1]), (-3, [0, 1]), (float("nan"), [0, 1]), (1, [0, 0.25, 0.5, 0.75, 1]),
    (7, [0, 2, 4, 6, 8]), (10, [0, 2.5, 5, 7.5, 10]), (93, [0, 25, 50, 75, 100]),
    (1234, [0, 500, 1000, 1500]),
])
def test_nice_ticks(top: float, ticks: list[float]) -> None:
    assert nice_ticks(top) == ticks


@pytest.mark.parametrize(("top", "ticks"), [
    (1, [0, 1]), (2, [0, 1, 2]), (3, [0, 1, 2, 3]), (7, [0, 2, 4, 6, 8]),
    (93, [0, 25, 50, 75, 100]),
])
def test_counts_have_whole_ticks(top: float, ticks: list[float]) -> None:
    assert nice_ticks(top, whole=True) == ticks


def test_column_chart_draws_one_bar_per_value_with_its_own_title() -> None:
    labels = ["Nov 28", "Nov 29", "Nov 30"]
    chart = column_chart("days", "Opened and closed", "Per day, last 3 days", labels,
                         [Series("Opened", [4, 0, 8]), Series("Closed", [2, 6, 1])])
    root = _parse(chart)
    _accessible(root, "days", "Opened and closed")
    _csp_safe(chart)
    bars = root.findall("svg:rect[svg:title]", NS)
    assert len(bars) == 6
    tips = [b.find("svg:title", NS).text for b in bars]  # type: ignore[union-attr]
    assert tips == ["Nov 28: Opened 4", "Nov 28: Closed 2", "Nov 29: Opened 0",
                    "Nov 29: Closed 6", "Nov 30: Opened 8", "Nov 30: Closed 1"]
    heights = [float(b.get("height", "0")) for b in bars]
    assert heights[4] == max(heights) and heights[2] == 0
    assert heights[0] == pytest.approx(heights[4] / 2)  # 4 is half of 8
    assert {b.get("fill") for b in bars} == {PALETTE[0], PALETTE[1]}


def test_column_chart_thins_day_labels_and_says_when_empty() -> None:
    days = [f"d{i}" for i in range(30)]
    root = _parse(column_chart("x", "t", "d", days, [Series("Opened", [1] * 30)]))
    shown = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.text in days]
    assert 8 <= len(shown) <= 12 and shown[0] == "d0"
    empty = column_chart("x", "t", "d", days, [Series("Opened", [0] * 30)], empty="Nada")
    assert "Nada" in str(empty) and _parse(empty).findall("svg:rect[svg:title]", NS) == []


def test_stacked_bars_sum_to_the_total_and_escape_queue_names() -> None:
    evil = '<script>alert(1)</script> & "Sales"'
    chart = stacked_bar_chart("backlog", "Backlog", "Open tickets by queue",
                              ["Support", evil], [Series("New", [3, 0]), Series("Open", [5, 2]),
                                                  Series("Pending", [2, 1])])
    _csp_safe(chart)
    root = _parse(chart)
    _accessible(root, "backlog", "Backlog")
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "10" in texts and "3" in texts  # totals at the ends of the bars
    support = [r for r in root.findall("svg:rect[svg:title]", NS)
               if r.find("svg:title", NS).text.startswith("Support")]  # type: ignore[union-attr]
    assert sum(float(r.get("width", 0)) for r in support) == pytest.approx(
        float(support[-1].get("x", 0)) + float(support[-1].get("width", 0))
        - float(support[0].get("x", 0)))
    assert any(evil in (t.text or "") for t in root.iter("{http://www.w3.org/2000/svg}title"))


def test_stacked_bars_empty_backlog() -> None:
    chart = stacked_bar_chart("b", "Backlog", "d", ["Support"], [Series("New", [0])],
                              empty="Nothing open")
    assert "Nothing open" in str(chart)
    _parse(chart)


def test_bullet_chart_marks_a_breach_and_draws_the_target() -> None:
    bars = [Bar("Support", 2.0, 4.0, "90% within"), Bar("Billing", 9.5, 8.0, "40% within"),
            Bar("Sales", 1.0, None)]
    chart = bullet_chart("fr", "First response", "Median hours to the first answer", bars,
                         value_name="Median", target_name="SLA", over_name="Over the SLA")
    _csp_safe(chart)
    root = _parse(chart)
    _accessible(root, "fr", "First response")
    rects = root.findall("svg:rect[svg:title]", NS)
    assert [r.get("fill") for r in rects] == [PALETTE[0], ALERT, PALETTE[0]]
    tips = [r.find("svg:title", NS).text for r in rects]  # type: ignore[union-attr]
    assert tips == ["Support: 2h (SLA 4h)", "Billing: 9.5h (SLA 8h)", "Sales: 1h"]
    targets = [ln for ln in root.findall(".//svg:line", NS) if ln.get("stroke-width") == "3"]
    assert len(targets) == 3  # the legend's key and the two queues with an SLA
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "9.5h · 40% within" in texts


def test_long_labels_are_shortened_but_kept_in_full_for_hover() -> None:
    name = "Second level support for enterprise customers in EMEA"
    root = _parse(bullet_chart("b", "t", "d", [Bar(name, 1.0, 2.0)]))
    shown = [t for t in root.iter("{http://www.w3.org/2000/svg}text")
             if t.find("svg:title", NS) is not None]
    assert shown[0].find("svg:title", NS).text == name  # type: ignore[union-attr]
    assert "".join(shown[0].itertext()).endswith("\u2026")
