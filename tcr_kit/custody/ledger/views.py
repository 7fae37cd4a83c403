"""Views: what a person or a report reads off the ledger, as typed frozen dataclasses.

Each view has ``to_json()`` giving the JSON object the CLI prints with ``--json`` (the field
names and values are part of the documented output and stay as they are).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tcr_kit.audit.canonical import parse_canonical
from tcr_kit.custody.ledger.reading import LedgerReader
from tcr_kit.custody.models import Bag, Discrepancy, Inspection
from tcr_kit.custody.status import CredentialStatus, InspectionBrief, PersonStatus, person_status

__all__ = [
    "BagView",
    "CredentialStatus",
    "DiscrepancyCount",
    "EventSummary",
    "InspectionBrief",
    "PersonStatus",
    "ViewsMixin",
]


@dataclass(frozen=True)
class DiscrepancyCount:
    """One row of the discrepancy summary: how many by year, category, severity, status."""

    year: int
    category: str
    severity: str
    status: str
    count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "category": self.category,
            "severity": self.severity,
            "status": self.status,
            "count": self.count,
        }


@dataclass(frozen=True)
class BagView:
    """A bag with its inspections and the ids of its open discrepancies."""

    bag: Bag
    inspections: tuple[Inspection, ...]
    open_discrepancies: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.bag.model_dump(mode="json")
        data["inspections"] = [i.model_dump(mode="json") for i in self.inspections]
        data["open_discrepancies"] = list(self.open_discrepancies)
        return data


@dataclass(frozen=True)
class EventSummary:
    """An audit event in short: its number, kind and hash (hex)."""

    seq: int
    kind: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "hash": self.hash}


class ViewsMixin(LedgerReader):
    """Status, summaries and the short form of the last change's events."""

    def status(self, person: str) -> PersonStatus:
        """A TCR's own view: credentials, where each is, bag, last inspection, open
        discrepancies (read by :func:`tcr_kit.custody.status.person_status`, the reading
        ``tcr status`` makes without the facade)."""
        return person_status(self._conn, person)

    def discrepancy_summary(
        self,
        *,
        ceremony: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[DiscrepancyCount]:
        """Counts by year opened, category, severity and status (for the community's
        "discrepancies over the years" question), sorted. Optionally only one ceremony's,
        or those opened at or after ``since`` and before ``until``."""
        counts: dict[tuple[int, str, str, str], int] = {}
        for d in self._all(Discrepancy):
            if ceremony is not None and d.ceremony != ceremony:
                continue
            if since is not None and d.opened_at < since:
                continue
            if until is not None and d.opened_at >= until:
                continue
            key = (d.opened_at.year, d.category.value, d.severity.value, d.status)
            counts[key] = counts.get(key, 0) + 1
        return [
            DiscrepancyCount(year=y, category=c, severity=sev, status=st, count=n)
            for (y, c, sev, st), n in sorted(counts.items())
        ]

    def bag_view(self, serial: str) -> BagView:
        """A bag with its inspections (oldest first) and its open discrepancies."""
        bag = self.bag(serial)
        return BagView(
            bag=bag,
            inspections=tuple(self.inspections(bag.serial)),
            open_discrepancies=tuple(
                d.id for d in self.discrepancies(open_only=True, about=f"bag:{bag.serial}")
            ),
        )

    def last_change(self) -> list[EventSummary]:
        """The events of the last change (or dry run), in short."""
        return [
            EventSummary(e.seq, str(parse_canonical(e.body)["kind"]), e.hash)
            for e in self.last_events
        ]
