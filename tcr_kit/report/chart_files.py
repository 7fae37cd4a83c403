"""The discrepancy charts as files of the site, and when they are redrawn.

Drawing is the slow part of a publication, so a chart is redrawn only when what it plots
changed: :data:`CHART_INPUTS` keeps the hash of each chart's input (the counts it plots and
the plotting library's version); a discrepancy's description, status or resolution changes
no chart. The drawing itself is :mod:`tcr_kit.report.charts`, imported only when a chart is
redrawn (it costs pygal)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tcr_kit.report.model import ReportData
from tcr_kit.report.site_files import write_public

__all__ = ["CHART_INPUTS", "redraw_charts"]


def _summary_rows(data: ReportData) -> list[dict[str, Any]]:
    """Discrepancies counted by year, category and severity: what the charts plot."""
    counts: dict[tuple[int, str, str], int] = {}
    for d in data.discrepancies:
        key = (int(str(d["opened_at"])[:4]), str(d["category"]), str(d["severity"]))
        counts[key] = counts.get(key, 0) + 1
    return [
        {"year": y, "category": c, "severity": s, "count": n}
        for (y, c, s), n in sorted(counts.items())
    ]


CHART_INPUTS = "inputs.json"
"""``charts/inputs.json``: chart file name -> SHA-256 of what it was drawn from."""


def _chart_inputs(data: ReportData) -> dict[str, tuple[bytes, Any]]:
    """Each chart's input and its hash: the counts it plots (a discrepancy's description,
    status or resolution changes no chart) and the plotting library's version."""
    import hashlib
    from importlib.metadata import version

    rows = _summary_rows(data)
    totals: dict[str, int] = {}
    for r in rows:
        a = data.assumptions.get(str(r["category"]), "(unmapped)")
        totals[a] = totals.get(a, 0) + int(r["count"])
    library = version("pygal")
    inputs: dict[str, Any] = {"yearly.svg": rows, "assumptions.svg": sorted(totals.items())}
    out = {}
    for name, value in inputs.items():
        blob = json.dumps([library, name, value], sort_keys=True).encode("utf-8")
        out[name] = (hashlib.sha256(blob).digest(), value)
    return out


def redraw_charts(data: ReportData, folder: Path) -> list[str]:
    """Redraw the charts whose input changed since they were drawn (their hashes are kept
    in :data:`CHART_INPUTS`); returns the names redrawn. Drawing is the slow part of a
    publication, so unchanged charts are never redrawn."""
    try:
        drawn = json.loads((folder / CHART_INPUTS).read_text("utf-8"))
        if not isinstance(drawn, dict):
            drawn = {}
    except (OSError, ValueError):
        drawn = {}
    inputs = _chart_inputs(data)
    stale = [
        name
        for name, (digest, _) in inputs.items()
        if drawn.get(name) != digest.hex() or not (folder / name).exists()
    ]
    if not stale:
        return []
    from tcr_kit.report.charts import assumption_chart, yearly_chart

    rows = _summary_rows(data)
    for name in stale:
        svg = (
            yearly_chart(rows) if name == "yearly.svg" else assumption_chart(rows, data.assumptions)
        )
        write_public(folder / name, svg)
        drawn[name] = inputs[name][0].hex()
    write_public(folder / CHART_INPUTS, json.dumps(drawn, indent=1, sort_keys=True) + "\n")
    return stale
