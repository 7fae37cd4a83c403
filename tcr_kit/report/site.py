"""The static public report: HTML pages and one stylesheet, no scripts, no network fetches,
relative links only (it works from ``file://``).

:func:`build_site` writes every page; with ``touched`` (the subjects of new events, from
:mod:`tcr_kit.report.feed`) it rewrites only the index and the pages those events concern, and
redraws the charts only when a discrepancy changed.

This module decides what a build writes; the pages are drawn by
:mod:`~tcr_kit.report.index_page`, :mod:`~tcr_kit.report.ceremony_page`,
:mod:`~tcr_kit.report.artifacts_page` and :mod:`~tcr_kit.report.timeline_page` (from the
pieces of :mod:`~tcr_kit.report.markup`); the other files by
:mod:`~tcr_kit.report.chart_files`, :mod:`~tcr_kit.report.ceremony_transcript` and
:mod:`~tcr_kit.report.site_files`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcr_kit.report.artifacts_page import ARTIFACTS_PAGE, artifacts_page
from tcr_kit.report.ceremony_page import ceremony_page
from tcr_kit.report.ceremony_transcript import publish_transcript
from tcr_kit.report.chart_files import redraw_charts
from tcr_kit.report.index_page import index_page
from tcr_kit.report.markup import page_name
from tcr_kit.report.model import ReportData, read_report
from tcr_kit.report.site_files import cache_events, write_public
from tcr_kit.report.timeline_page import timeline_page

if TYPE_CHECKING:
    from tcr_kit.custody.ledger import Ledger

__all__ = ["SiteResult", "build_site"]


class SiteResult:
    """What a build wrote."""

    def __init__(self) -> None:
        self.pages: list[str] = []
        self.withheld: dict[int, list[str]] = {}
        self.charts_redrawn: list[str] = []
        """Charts drawn by this build (only those whose input changed)."""


def build_site(
    ledger: Ledger,
    out: str | Path,
    *,
    touched: Iterable[str] | None = None,
    data: ReportData | None = None,
) -> SiteResult:
    """Write the site to ``out`` (created if missing). ``touched``: only what those subjects
    concern (plus the index); ``None``: everything."""
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    data = data or read_report(ledger)
    result = SiteResult()
    subjects = None if touched is None else set(touched)
    css = resources.files("tcr_kit.report").joinpath("static/report.css").read_text("utf-8")
    if subjects is None or not (root / "report.css").exists():
        write_public(root / "report.css", css)
    charts = root / "charts"
    if (
        subjects is None
        or any(s.startswith("discrepancy:") for s in subjects)
        or not (charts / "yearly.svg").exists()
    ):
        result.charts_redrawn = redraw_charts(data, charts)
    for c in data.ceremonies:
        closing_seq = int((c["closing"] or {}).get("seq", 0))
        # A ceremony's closing checkpoint names no subject: its page is rebuilt when the
        # checkpoint is among the events read now (not from the site's cache).
        if subjects is None or f"ceremony:{c['number']}" in subjects or closing_seq > data.cached:
            result.withheld[c["number"]] = publish_transcript(ledger, data, c, root)
            name = f"ceremony-{c['number']}.html"
            write_public(root / name, ceremony_page(c, data, result.withheld[c["number"]]))
            result.pages.append(name)
    for cred in data.credentials:
        if subjects is None or f"credential:{cred['id']}" in subjects:
            name = page_name("credential", cred["id"])
            write_public(
                root / name, timeline_page("Credential", f"credential:{cred['id']}", cred, data)
            )
            result.pages.append(name)
    for bag in data.bags:
        if subjects is None or f"bag:{bag['serial']}" in subjects:
            name = page_name("bag", bag["serial"])
            write_public(root / name, timeline_page("Bag", f"bag:{bag['serial']}", bag, data))
            result.pages.append(name)
    if subjects is None or any(x.startswith("artifact") for x in subjects):
        write_public(root / ARTIFACTS_PAGE, artifacts_page(data))
        result.pages.append(ARTIFACTS_PAGE)
    write_public(root / "index.html", index_page(data, charts))
    cache_events(root, data, full=subjects is None)
    write_public(
        root / "report.json", json.dumps(_summary_json(data), indent=1, sort_keys=True) + "\n"
    )
    result.pages.append("index.html")
    return result


def _summary_json(data: ReportData) -> dict[str, Any]:
    """``report.json``: the site's facts for programs, beside the pages for people."""
    return {
        "format": "tcr-kit/public-report",
        "version": 1,
        "size": data.size,
        "head": data.head,
        "ceremonies": data.ceremonies,
        "share_sets": data.share_sets,
        "discrepancies": data.discrepancies,
        "artifacts": data.artifacts,
    }
