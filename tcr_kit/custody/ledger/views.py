"""Views: what a person or a report reads off the ledger, as typed frozen dataclasses.

Each view has ``to_json()`` giving the JSON object the CLI prints with ``--json`` (the field
names and values are part of the documented output and stay as they are).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tcr_kit.audit.canonical import parse_canonical
from tcr_kit.clock import isoformat
from tcr_kit.custody.ledger.reading import LedgerReader
from tcr_kit.custody.models import Bag, Discrepancy, Inspection

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
class InspectionBrief:
    """The last inspection of a bag, in short."""

    id: str
    at: str
    """UTC time, ISO 8601 with ``Z``."""
    outcome: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "outcome": self.outcome}


@dataclass(frozen=True)
class CredentialStatus:
    """One of a person's credentials: its state, its bag and where that is."""

    credential: str
    kind: str
    serial: str
    state: str
    bag: str | None
    bag_state: str | None
    location: str | None
    last_inspection: InspectionBrief | None
    open_discrepancies: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "credential": self.credential,
            "kind": self.kind,
            "serial": self.serial,
            "state": self.state,
            "bag": self.bag,
            "bag_state": self.bag_state,
            "location": self.location,
            "last_inspection": self.last_inspection.to_json() if self.last_inspection else None,
            "open_discrepancies": list(self.open_discrepancies),
        }


@dataclass(frozen=True)
class PersonStatus:
    """A TCR's own view (``tcr status``)."""

    person: str
    name: str
    roles: tuple[str, ...]
    credentials: tuple[CredentialStatus, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "name": self.name,
            "roles": list(self.roles),
            "credentials": [c.to_json() for c in self.credentials],
        }


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
        discrepancies."""
        who = self.person(person)
        items = []
        open_d = self.discrepancies(open_only=True)
        for cred in self.credentials(person):
            bag = self._get_or_none(Bag, cred.bag) if cred.bag else None
            last = None
            if bag is not None:
                found = self.inspections(bag.serial)
                last = found[-1] if found else None
            about = {f"credential:{cred.id}"} | ({f"bag:{bag.serial}"} if bag else set())
            items.append(
                CredentialStatus(
                    credential=cred.id,
                    kind=cred.kind.value,
                    serial=cred.serial,
                    state=cred.state.value,
                    bag=bag.serial if bag else None,
                    bag_state=bag.state.value if bag else None,
                    location=bag.location.describe() if bag else None,
                    last_inspection=(
                        InspectionBrief(last.id, isoformat(last.at), last.outcome) if last else None
                    ),
                    open_discrepancies=tuple(d.id for d in open_d if about & set(d.objects)),
                )
            )
        return PersonStatus(
            person=who.id,
            name=who.name,
            roles=tuple(r.value for r in who.roles),
            credentials=tuple(items),
        )

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
