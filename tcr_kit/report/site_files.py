"""How the site's files are written, and the cache of public events kept beside them.

Every file is world-readable (the site is public) and replaced whole, never edited in place,
so a reader never sees half a page. The cache (:data:`CACHE`) holds the already redacted
events the pages were built from, so that a publication reads only the new events from the
ledger (:mod:`tcr_kit.report.feed`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tcr_kit.fileio import write_new_file
from tcr_kit.report.model import ReportData

__all__ = ["CACHE", "PUBLIC_MODE", "cache_events", "read_cache", "write_public"]

PUBLIC_MODE = 0o644
"""The mode of every file of the site: it is published, so anyone may read it."""


def write_public(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (its folders created), replacing what was there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_new_file(path, text.encode("utf-8"), mode=PUBLIC_MODE, force=True)


CACHE = Path("data") / "events.jsonl"
"""The public (already redacted) events the pages were built from, one JSON object a line:
lets a publication read only the new events from the ledger."""


def read_cache(root: Path, size_limit: int | None = None) -> list[dict[str, Any]]:
    """The cached public events 1..k of the site (empty if none or unusable)."""
    path = root / CACHE
    try:
        text = path.read_text("utf-8").strip()
        events = json.loads("[" + text.replace("\n", ",") + "]") if text else []
    except (OSError, ValueError):
        return []
    if any(e.get("seq") != i for i, e in enumerate(events, 1)):
        return []
    return events if size_limit is None else events[:size_limit]


def cache_events(root: Path, data: ReportData, *, full: bool) -> None:
    """Keep the cache in step with ``data``: rewritten whole on a full build (or when there
    is nothing to extend), else only the events read now are appended."""
    path = root / CACHE
    path.parent.mkdir(parents=True, exist_ok=True)
    if full or data.cached == 0 or not path.exists():
        write_public(path, "".join(json.dumps(e, sort_keys=True) + "\n" for e in data.events))
        return
    with open(path, "a", encoding="utf-8") as fh:
        for e in data.events[data.cached :]:
            fh.write(json.dumps(e, sort_keys=True) + "\n")
