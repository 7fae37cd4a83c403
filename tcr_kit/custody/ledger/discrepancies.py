"""Discrepancies (the Internal Witness's numbered exceptions) and ceremonies.

A change that finds a problem (a serial read wrong, a failed tamper check) is recorded
together with the discrepancies it opens, in the same transaction and audit event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from tcr_kit.clock import utcnow
from tcr_kit.custody.errors import NotFound
from tcr_kit.custody.historical import HistoricalDiscrepancy
from tcr_kit.custody.ledger.guard import GuardedReader
from tcr_kit.custody.ledger.storage import Actor, serialised
from tcr_kit.custody.models import (
    Bag,
    Ceremony,
    Credential,
    Discrepancy,
    DiscrepancyCategory,
    Inspection,
    Person,
    Severity,
    ShareSet,
    Shipment,
)
from tcr_kit.custody.models import build as _build
from tcr_kit.custody.models import revalidate as _revalidate
from tcr_kit.errors import InputError

__all__ = ["DiscrepanciesMixin", "Problem", "discrepancy_message"]

Problem = tuple[DiscrepancyCategory, Severity, str]
"""A problem found by a change: becomes one discrepancy."""


def discrepancy_message(serial: str, opened: Sequence[Discrepancy], dry_run: bool) -> str:
    parts = "; ".join(f"{d.id} ({d.category.value}): {d.description}" for d in opened)
    if dry_run:
        return f"dry run, nothing recorded: bag {serial} would open discrepancy {parts}"
    return f"bag {serial}: discrepancy opened: {parts}; the bag cannot be opened until resolved"


class DiscrepanciesMixin(GuardedReader):
    """Open and resolve discrepancies; record changes that open some; add ceremonies."""

    def _record_with_discrepancies(
        self,
        actor: Actor,
        kind: str,
        subjects: list[str],
        records: list[BaseModel],
        problems: list[Problem],
        extra: dict[str, Any],
        objects: list[str],
        *,
        ceremony: int | None = None,
        step: str | None = None,
        dry_run: bool = False,
    ) -> list[Discrepancy]:
        opened: list[Discrepancy] = []
        base = self._count("discrepancy")
        for i, (category, severity, text) in enumerate(problems):
            opened.append(
                _build(
                    Discrepancy,
                    id=f"D-{base + i + 1:04d}",
                    category=category,
                    severity=severity,
                    description=text,
                    objects=tuple(objects),
                    ceremony=ceremony,
                    step=step,
                    opened_at=utcnow(),
                    opened_by=actor.person,
                )
            )
        subjects = subjects + [f"discrepancy:{d.id}" for d in opened]
        extra = dict(extra, discrepancies=[d.id for d in opened])
        with self._change(actor, kind, subjects, extra, dry_run=dry_run):
            # Re-number inside the write lock in case another writer added one meanwhile.
            now_base = self._count("discrepancy")
            if now_base != base:
                opened = [
                    _revalidate(d.model_copy(update={"id": f"D-{now_base + i + 1:04d}"}))
                    for i, d in enumerate(opened)
                ]
            for record in records:
                self._put(record)
            for d in opened:
                self._put(d)
        return opened

    # -- discrepancies and ceremonies ---------------------------------------------------------
    @serialised
    def add_discrepancy(
        self,
        actor: Actor,
        *,
        category: DiscrepancyCategory,
        severity: Severity,
        description: str,
        objects: Sequence[str] = (),
        ceremony: int | None = None,
        step: str | None = None,
        dry_run: bool = False,
    ) -> Discrepancy:
        self._permit("discrepancy.open", actor)
        self._check_rows(objects)
        ceremony = ceremony if ceremony is not None else self.ceremony_number
        opened = self._record_with_discrepancies(
            actor,
            "discrepancy.open",
            list(objects),
            [],
            [(category, severity, description)],
            {},
            list(objects),
            ceremony=ceremony,
            step=step,
            dry_run=dry_run,
        )
        return opened[0]

    @serialised
    def resolve_discrepancy(
        self,
        actor: Actor,
        did: str,
        resolution: str,
        *,
        second: str | None = None,
        dry_run: bool = False,
    ) -> Discrepancy:
        """Resolve a discrepancy. A critical one needs a second staff member (``second``,
        recorded in the event), neither involved in it (policy rule critical-two-staff)."""
        d = self.discrepancy(did)
        if d.status != "open":
            raise InputError(f"discrepancy {did} is already resolved")
        self._require_person(second, "second resolver")
        self._permit_discrepancies(
            "discrepancy.resolve", [actor.person, *([second] if second else [])], [d]
        )
        resolved = _revalidate(
            d.model_copy(
                update={
                    "status": "resolved",
                    "resolution": resolution,
                    "resolved_by": actor.person,
                    "resolved_at": utcnow(),
                }
            )
        )
        with self._change(
            actor,
            "discrepancy.resolve",
            [f"discrepancy:{did}", *d.objects],
            {"second": second} if second else None,
            dry_run=dry_run,
        ):
            self._put(resolved)
        return resolved

    @serialised
    def import_discrepancies(
        self,
        actor: Actor,
        rows: Sequence[HistoricalDiscrepancy],
        *,
        source_sha256: str | None = None,
        dry_run: bool = False,
    ) -> list[Discrepancy]:
        """Enter historical discrepancies (with their original dates) in one signed event
        ``discrepancy.import`` by ``actor``. Every object a row names must exist in the
        ledger (:class:`NotFound` naming the row's line otherwise); nothing is imported then."""
        models: dict[str, type[BaseModel]] = {
            "bag": Bag,
            "credential": Credential,
            "person": Person,
            "share-set": ShareSet,
            "shipment": Shipment,
            "inspection": Inspection,
            "discrepancy": Discrepancy,
            "ceremony": Ceremony,
        }
        for row in rows:
            for obj in row.objects:
                kind, _, key = obj.partition(":")
                model = models.get(kind)
                if model is None:
                    raise InputError(f"line {row.line}: unknown object type {kind!r} in {obj}")
                if self._get_or_none(model, key) is None:
                    raise NotFound(f"line {row.line}: {obj} is not in the ledger")
        base = self._count("discrepancy")
        made: list[Discrepancy] = []
        now = utcnow()
        for i, row in enumerate(rows):
            resolved = row.resolution is not None
            made.append(
                _build(
                    Discrepancy,
                    id=f"D-{base + i + 1:04d}",
                    category=row.category,
                    severity=row.severity,
                    description=row.description,
                    objects=row.objects,
                    ceremony=row.ceremony,
                    step=row.step,
                    opened_at=row.date,
                    opened_by=actor.person,
                    status="resolved" if resolved else "open",
                    resolution=row.resolution,
                    resolved_by=actor.person if resolved else None,
                    resolved_at=now if resolved else None,
                    source=row.source,
                )
            )
        subjects = [f"discrepancy:{d.id}" for d in made]
        extra: dict[str, Any] = {"imported": len(made)}
        if source_sha256 is not None:
            extra["source_sha256"] = source_sha256
        with self._change(actor, "discrepancy.import", subjects, extra, dry_run=dry_run):
            for d in made:
                self._put(d)
        return made

    @serialised
    def add_ceremony(self, actor: Actor, ceremony: Ceremony, *, dry_run: bool = False) -> None:
        self._permit("ceremony.add", actor)
        if self._get_or_none(Ceremony, ceremony.number) is not None:
            raise InputError(f"ceremony {ceremony.number} already exists")
        with self._change(actor, "ceremony.add", [f"ceremony:{ceremony.number}"], dry_run=dry_run):
            self._put(ceremony)
