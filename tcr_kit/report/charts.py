"""The ten-year discrepancy charts, drawn with pygal as inline SVG.

pygal writes SVG directly in pure Python, so a publication that redraws a chart costs a small
fraction of a second (matplotlib cost about a second to import alone, against the 1 s budget
of a publication; docs/report.md). The SVG is made self-contained for a site that works from
``file://`` and fetches nothing: pygal's external script reference is turned off (``js=[]``),
its inline configuration script and its comments (which carry links) are removed, text uses
the reader's local fonts, and the CSS is inline and scoped to each chart's own fixed id (two
charts share one page, and a fixed id keeps the files the same for the same counts).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

__all__ = ["assumption_chart", "yearly_chart"]

SEVERITIES = ("low", "medium", "high", "critical")
_SEVERITY_COLOURS = ("#9ecae1", "#fdae6b", "#e6550d", "#a50f15")
_CATEGORY_COLOURS = (
    "#1b9e77",
    "#d95f02",
    "#7570b3",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#666666",
    "#17becf",
    "#bcbd22",
)
_ASSUMPTION_COLOUR = "#3182bd"
_SVG = "http://www.w3.org/2000/svg"
_FONT = 'system-ui, "DejaVu Sans", "Liberation Sans", sans-serif'


def _config(colours: Sequence[str], **options: Any) -> dict[str, Any]:
    from pygal.style import Style  # type: ignore[import-untyped]

    style = Style(
        background="white",
        plot_background="white",
        colors=tuple(colours),
        opacity="1",
        opacity_hover="1",
        font_family=_FONT,
        title_font_size=18,
        legend_font_size=13,
        label_font_size=12,
        major_label_font_size=12,
        value_font_size=12,
        no_data_font_size=20,
        transition="0s",
    )
    return {
        "style": style,
        "js": [],  # pygal's default points at a script on the web
        "disable_xml_declaration": True,
        "classes": ["pygal-chart"],
        "legend_at_bottom": True,
        "truncate_legend": -1,
        "truncate_label": -1,
        "print_zeroes": False,
        "no_data_text": "no discrepancies recorded",
        **options,
    }


def _integer_axis(top: int) -> dict[str, Any]:
    """Value axis ticks at whole counts (a count of discrepancies has no fractions); none
    for an empty chart (it says so instead; pygal fails if given ticks for no data)."""
    if top <= 0:
        return {"show_y_labels": False, "show_y_guides": False, "show_x_guides": False}
    step = max(1, -(-top // 8))
    return {"y_labels": list(range(0, top + step, step))}


def _panel(chart: Any, chart_id: str, x: float = 0, y: float = 0) -> ET.Element:
    """pygal's chart as a ``<g>`` with a fixed id and no script or comments."""
    tree: ET.Element = chart.render_tree()
    uid = str(tree.get("id"))  # chart-<random uuid>
    tree.tag = f"{{{_SVG}}}g"
    for name in ("xmlns", "viewBox", "width", "height"):
        tree.attrib.pop(name, None)
    tree.set("id", chart_id)
    if x or y:
        tree.set("transform", f"translate({x:g},{y:g})")
    for parent in list(tree.iter()):
        for child in list(parent):
            tag: object = child.tag  # a function for comments
            name = tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""
            if not isinstance(tag, str) or name == "script":
                parent.remove(child)
            elif name == "style" and child.text:
                child.text = child.text.replace(uid, chart_id)
    return tree


def _svg(panels: Sequence[ET.Element], width: int, height: int, title: str) -> str:
    ET.register_namespace("", _SVG)
    root = ET.Element(
        f"{{{_SVG}}}svg",
        {
            "viewBox": f"0 0 {width} {height}",
            "width": str(width),
            "height": str(height),
            "role": "img",
            "aria-label": title,
            "class": "chart",
        },
    )
    ET.SubElement(root, f"{{{_SVG}}}title").text = title
    root.extend(panels)
    return ET.tostring(root, encoding="unicode")


def yearly_chart(rows: Sequence[dict[str, Any]]) -> str:
    """Discrepancies per year: stacked bars by severity (left), bars by category (right)."""
    import pygal  # type: ignore[import-untyped]

    years = sorted({int(r["year"]) for r in rows})
    cats = sorted({str(r["category"]) for r in rows})

    def count(year: int, key: str, value: str) -> int:
        return sum(int(r["count"]) for r in rows if int(r["year"]) == year and r[key] == value)

    per_year = [sum(int(r["count"]) for r in rows if int(r["year"]) == y) for y in years]
    common = {"width": 560, "height": 440, "x_label_rotation": 45 if len(years) > 8 else 0}
    severity = pygal.StackedBar(
        **_config(_SEVERITY_COLOURS, **common),
        title="per year, by severity",
        y_title="discrepancies",
        **_integer_axis(max(per_year, default=0)),
    )
    severity.x_labels = [str(y) for y in years]
    for sev in SEVERITIES:
        severity.add(sev, [count(y, "severity", sev) or None for y in years])
    most = max((count(y, "category", c) for y in years for c in cats), default=0)
    category = pygal.Bar(
        **_config(_CATEGORY_COLOURS, **common),
        title="per year, by category",
        y_title="discrepancies",
        **_integer_axis(most),
    )
    category.x_labels = [str(y) for y in years]
    for cat in cats:
        category.add(cat, [count(y, "category", cat) or None for y in years])
    return _svg(
        [_panel(severity, "chart-yearly-severity"), _panel(category, "chart-yearly-category", 580)],
        1140,
        440,
        "Discrepancies per year by severity and by category",
    )


def assumption_chart(rows: Sequence[dict[str, Any]], assumptions: dict[str, str]) -> str:
    """Discrepancies per design assumption challenged (horizontal bars, biggest on top)."""
    import pygal

    totals: dict[str, int] = {}
    for r in rows:
        a = assumptions.get(str(r["category"]), "(unmapped)")
        totals[a] = totals.get(a, 0) + int(r["count"])
    items = sorted(totals.items(), key=lambda kv: (kv[1], kv[0]))
    height = int(44 * max(len(items), 2) + 120)
    chart = pygal.HorizontalBar(
        **_config(
            (_ASSUMPTION_COLOUR,),
            width=1140,
            height=height,
            show_legend=False,
            print_values=True,
            print_values_position="top",
            margin_left=20,
        ),
        title="discrepancies per design assumption challenged",
        x_title="discrepancies",
        **_integer_axis(max(totals.values(), default=0)),
    )
    chart.x_labels = [k for k, _ in items]
    chart.add("discrepancies", [v for _, v in items])
    return _svg(
        [_panel(chart, "chart-assumptions")], 1140, height, "Discrepancies per design assumption"
    )
