"""Historical discrepancies from a CSV file (``tcr discrepancy import``).

The community asked for the discrepancies of the last ten years compared with the
assumptions behind the design. Those years are in published scripts and reports, not in the
ledger; this module reads them from a CSV file with one row per discrepancy:

``date,ceremony,category,severity,step,description,source,objects,resolution``

* ``date``: the original date, ``YYYY-MM-DD`` or ISO 8601 with a time zone (UTC assumed for
  a bare date);
* ``ceremony``: the ceremony number (may be empty);
* ``category``, ``severity``: as for ``tcr discrepancy add``;
* ``step``: the script step (may be empty); ``description``: what happened;
* ``source``: where it was found (a URL or a document reference), required;
* ``objects``: ledger objects it concerns, ``type:id`` separated by spaces (may be empty;
  each must exist in the ledger);
* ``resolution``: how it was resolved (empty: still open).

Parsing checks every row and reports the first bad one with its line number
(:class:`~tcr_kit.errors.InputError`); nothing is imported from a file with a bad row.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime

from tcr_kit.custody.models import DiscrepancyCategory, Severity
from tcr_kit.errors import InputError

__all__ = ["CSV_COLUMNS", "HistoricalDiscrepancy", "parse_history_csv"]

CSV_COLUMNS = (
    "date",
    "ceremony",
    "category",
    "severity",
    "step",
    "description",
    "source",
    "objects",
    "resolution",
)
_REQUIRED = ("date", "category", "severity", "description", "source")


@dataclass(frozen=True)
class HistoricalDiscrepancy:
    """One row of a history file, checked."""

    line: int
    date: datetime
    ceremony: int | None
    category: DiscrepancyCategory
    severity: Severity
    step: str | None
    description: str
    source: str
    objects: tuple[str, ...]
    resolution: str | None


def _date(text: str) -> datetime:
    try:
        if len(text) == 10:
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"date {text!r} is not YYYY-MM-DD or ISO 8601") from None
    if value.tzinfo is None:
        raise ValueError(f"date {text!r} has a time but no time zone")
    return value.astimezone(UTC)


def parse_history_csv(text: str, *, name: str = "CSV") -> list[HistoricalDiscrepancy]:
    """Parse and check a history file; :class:`InputError` naming the first bad line."""
    reader = csv.DictReader(io.StringIO(text))
    try:
        return _parse_rows(reader, name)
    except csv.Error as exc:  # a field over the csv module's limit, a NUL byte, ...
        raise InputError(f"{name} line {reader.line_num}: not CSV: {exc}") from None


def _parse_rows(reader: csv.DictReader[str], name: str) -> list[HistoricalDiscrepancy]:
    header = tuple(reader.fieldnames or ())
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise InputError(f"{name}: missing column(s) {', '.join(missing)} (header: {header})")
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown:
        raise InputError(f"{name}: unknown column(s) {', '.join(unknown)}")
    rows: list[HistoricalDiscrepancy] = []
    for row in reader:
        line = reader.line_num
        cell = {k: (v or "").strip() for k, v in row.items() if k is not None}
        try:
            for c in _REQUIRED:
                if not cell.get(c):
                    raise ValueError(f"{c} is empty")
            ceremony_text = cell.get("ceremony", "")
            ceremony = int(ceremony_text) if ceremony_text else None
            if ceremony is not None and ceremony < 1:
                raise ValueError("ceremony must be 1 or more")
            objects = tuple(cell.get("objects", "").split())
            for obj in objects:
                if ":" not in obj:
                    raise ValueError(f"object {obj!r} is not type:id")
            rows.append(
                HistoricalDiscrepancy(
                    line=line,
                    date=_date(cell["date"]),
                    ceremony=ceremony,
                    category=DiscrepancyCategory(cell["category"]),
                    severity=Severity(cell["severity"]),
                    step=cell.get("step") or None,
                    description=cell["description"],
                    source=cell["source"],
                    objects=objects,
                    resolution=cell.get("resolution") or None,
                )
            )
        except ValueError as exc:
            raise InputError(f"{name} line {line}: {exc}") from None
    if not rows:
        raise InputError(f"{name}: no discrepancies in the file")
    return rows
