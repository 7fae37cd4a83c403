"""The ten-year discrepancy charts, drawn with matplotlib as inline SVG (no fonts or scripts
fetched: text is drawn as paths, so the SVG renders the same from ``file://``)."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["assumption_chart", "yearly_chart"]

SEVERITIES = ("low", "medium", "high", "critical")
_SEVERITY_COLOURS = {
    "low": "#9ecae1",
    "medium": "#fdae6b",
    "high": "#e6550d",
    "critical": "#a50f15",
}


def _figure(width: float, height: float) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=96)


def _svg(fig: Any, title: str) -> str:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "tcr-kit"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    start = text.index("<svg")
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", text[start:], flags=re.S)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{title}" class="chart" ', 1)


def yearly_chart(rows: Sequence[dict[str, Any]]) -> str:
    """Discrepancies per year: stacked bars by severity (left), lines by category (right)."""
    years = sorted({int(r["year"]) for r in rows}) or [0]
    cats = sorted({str(r["category"]) for r in rows})
    fig = _figure(10, 3.6)
    ax1, ax2 = fig.subplots(1, 2)
    bottom = [0] * len(years)
    for sev in SEVERITIES:
        counts = [
            sum(int(r["count"]) for r in rows if int(r["year"]) == y and r["severity"] == sev)
            for y in years
        ]
        ax1.bar(
            [str(y) for y in years], counts, bottom=bottom, label=sev, color=_SEVERITY_COLOURS[sev]
        )
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax1.set_title("per year, by severity")
    ax1.legend(fontsize=8)
    width = 0.8 / max(len(cats), 1)
    for i, cat in enumerate(cats):
        counts = [
            sum(int(r["count"]) for r in rows if int(r["year"]) == y and r["category"] == cat)
            for y in years
        ]
        ax2.bar([j + i * width for j in range(len(years))], counts, width=width, label=cat)
    ax2.set_xticks([j + 0.4 - width / 2 for j in range(len(years))], [str(y) for y in years])
    ax2.set_title("per year, by category")
    ax2.legend(fontsize=7)
    from matplotlib.ticker import MaxNLocator

    for ax in (ax1, ax2):
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _svg(fig, "Discrepancies per year by severity and by category")


def assumption_chart(rows: Sequence[dict[str, Any]], assumptions: dict[str, str]) -> str:
    """Discrepancies per design assumption challenged (horizontal bars)."""
    totals: dict[str, int] = {}
    for r in rows:
        a = assumptions.get(str(r["category"]), "(unmapped)")
        totals[a] = totals.get(a, 0) + int(r["count"])
    items = sorted(totals.items(), key=lambda kv: kv[1])
    fig = _figure(10, 0.45 * max(len(items), 2) + 1)
    ax = fig.subplots()
    ax.barh([k for k, _ in items], [v for _, v in items], color="#3182bd")
    ax.set_title("discrepancies per design assumption challenged")
    ax.tick_params(axis="y", labelsize=8)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _svg(fig, "Discrepancies per design assumption")
