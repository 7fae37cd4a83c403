"""The table of design assumptions each discrepancy category challenges (package data
``data/assumptions.json``; a deployment may pass its own file)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path

from tcr_kit.errors import InputError

__all__ = ["assumption_for", "load_assumptions"]


@cache
def _default() -> dict[str, str]:
    text = resources.files("tcr_kit.report").joinpath("data/assumptions.json").read_text("utf-8")
    return _parse(text, "built-in assumptions table")


def _parse(text: str, name: str) -> dict[str, str]:
    try:
        doc = json.loads(text)
        table = doc["assumptions"]
        if doc.get("format") != "tcr-kit/discrepancy-assumptions" or not isinstance(table, dict):
            raise ValueError("not a tcr-kit/discrepancy-assumptions table")
        return {str(k): str(v) for k, v in table.items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{name}: {exc}") from None


def load_assumptions(path: str | Path | None = None) -> dict[str, str]:
    """Category -> assumption, from ``path`` or the built-in table."""
    if path is None:
        return dict(_default())
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    return _parse(text, str(path))


def assumption_for(category: str, table: dict[str, str] | None = None) -> str:
    """The assumption a category challenges (``(unmapped)`` for a category not in the table)."""
    return (table if table is not None else _default()).get(category, "(unmapped)")
