"""Inspection before opening, and opening: the serial read aloud and the tamper checklist;
a problem opens a discrepancy that blocks opening until resolved or overridden."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tcr_kit.clock import utcnow
from tcr_kit.custody.errors import BlockedByDiscrepancy, ChecklistItemInvalid, DiscrepancyOpened
from tcr_kit.custody.ledger.discrepancies import (
    DiscrepanciesMixin,
    Problem,
    discrepancy_message,
)
from tcr_kit.custody.ledger.reading import normalise_serial
from tcr_kit.custody.ledger.storage import Actor, serialised
from tcr_kit.custody.lifecycle import (
    BagAction,
    CredentialAction,
    WitnessRequired,
    bag_transition,
    credential_transition,
)
from tcr_kit.custody.models import (
    Bag,
    Discrepancy,
    DiscrepancyCategory,
    Inspection,
    Role,
    Severity,
)
from tcr_kit.custody.models import build as _build
from tcr_kit.custody.models import revalidate as _revalidate
from tcr_kit.errors import InputError

__all__ = ["InspectionsMixin", "parse_checklist"]


def parse_checklist(items: Sequence[str]) -> dict[str, bool]:
    """Checklist items written ``NAME=ok`` or ``NAME=fail`` (any case) -> ``{NAME: passed}``;
    :class:`ChecklistItemInvalid` naming the first malformed item."""
    checklist: dict[str, bool] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or value.lower() not in ("ok", "fail"):
            raise ChecklistItemInvalid(item)
        checklist[name.strip()] = value.lower() == "ok"
    return checklist


class InspectionsMixin(DiscrepanciesMixin):
    """Inspect a bag, then open it (or have the opening refused)."""

    @serialised
    def inspect_bag(
        self,
        actor: Actor,
        serial: str,
        *,
        serial_read: str,
        checklist: Mapping[str, bool],
        witness: str,
        photo_sha256: Sequence[str] = (),
        ceremony: int | None = None,
        step: str | None = None,
        dry_run: bool = False,
    ) -> Inspection:
        """Record an inspection before opening. A serial mismatch or a failed checklist item
        is recorded, opens a discrepancy, and raises :class:`DiscrepancyOpened` after the
        commit; the bag then cannot be opened until it is resolved or overridden."""
        bag = self.bag(serial)
        self._require_person(witness, "witness")
        self._permit("bag.inspect", actor, witness=witness, bags=[bag], vouching=True)
        state = bag_transition(bag.serial, bag.state, BagAction.INSPECT, actor.person, witness)
        ceremony = ceremony if ceremony is not None else self.ceremony_number
        inspection = _build(
            Inspection,
            id=self._next_id(Inspection, "I"),
            bag=bag.serial,
            serial_expected=bag.serial,
            serial_read=normalise_serial(serial_read),
            checklist=dict(checklist),
            photo_sha256=tuple(p.lower() for p in photo_sha256),
            inspector=actor.person,
            witness=witness,
            at=utcnow(),
            ceremony=ceremony,
            step=step,
        )
        problems: list[Problem] = []
        if not inspection.serial_matches:
            problems.append(
                (
                    DiscrepancyCategory.SERIAL_MISMATCH,
                    Severity.HIGH,
                    f"serial read at inspection {inspection.serial_read!r} is not the recorded "
                    f"{bag.serial!r}",
                )
            )
        failed = sorted(k for k, ok in checklist.items() if not ok)
        if failed:
            problems.append(
                (
                    DiscrepancyCategory.TAMPER,
                    Severity.CRITICAL,
                    f"tamper checklist failed: {', '.join(failed)}",
                )
            )
        inspected = _revalidate(bag.model_copy(update={"state": state}))
        opened = self._record_with_discrepancies(
            actor,
            "bag.inspect",
            [f"bag:{bag.serial}", f"inspection:{inspection.id}"],
            [inspected, inspection],
            problems,
            {"witness": witness, "outcome": inspection.outcome},
            [f"bag:{bag.serial}"],
            ceremony=ceremony,
            step=step,
            dry_run=dry_run,
        )
        if opened:
            raise DiscrepancyOpened(discrepancy_message(bag.serial, opened, dry_run), opened)
        return inspection

    @serialised
    def open_bag(
        self,
        actor: Actor,
        serial: str,
        *,
        serial_read: str,
        witness: str,
        override_by: str | None = None,
        dry_run: bool = False,
    ) -> Bag:
        """Open an inspected bag. Refused while a discrepancy on it is open, unless
        ``override_by`` (an Internal Witness or Ceremony Administrator other than the actor)
        explicitly overrides; the override is recorded on each open discrepancy."""
        bag = self.bag(serial)
        self._require_person(witness, "witness")
        self._permit("bag.open", actor, witness=witness, bags=[bag], vouching=True)
        state = bag_transition(bag.serial, bag.state, BagAction.OPEN, actor.person, witness)
        read = normalise_serial(serial_read)
        if read != bag.serial:
            opened = self._record_with_discrepancies(
                actor,
                "bag.open-refused",
                [f"bag:{bag.serial}"],
                [],
                [
                    (
                        DiscrepancyCategory.SERIAL_MISMATCH,
                        Severity.HIGH,
                        f"serial read before opening {read!r} is not the recorded {bag.serial!r}",
                    )
                ],
                {"serial_read": read, "witness": witness},
                [f"bag:{bag.serial}"],
                dry_run=dry_run,
            )
            raise DiscrepancyOpened(
                f"bag {bag.serial}: serial read {read!r} does not match; not opened. "
                + discrepancy_message(bag.serial, opened, dry_run),
                opened,
            )
        blocking = self.discrepancies(open_only=True, about=f"bag:{bag.serial}")
        overridden: list[Discrepancy] = []
        if blocking:
            if override_by is None:
                ids = ", ".join(d.id for d in blocking)
                raise BlockedByDiscrepancy(
                    f"bag {bag.serial} cannot be opened: open discrepancies {ids} "
                    "(resolve them, or have an IW/CA override)"
                )
            self._check_override(actor, override_by)
            self._permit_discrepancies(
                "discrepancy.override", [actor.person, override_by], blocking
            )
            overridden = [
                _revalidate(d.model_copy(update={"overrides": (*d.overrides, override_by)}))
                for d in blocking
            ]
        creds = []
        for cid in bag.contents:
            cred = self.credential(cid)
            new_state = credential_transition(
                cid, cred.state, CredentialAction.UNSEAL, actor.person, None
            )
            creds.append(_revalidate(cred.model_copy(update={"state": new_state, "bag": None})))
        opened_bag = _revalidate(bag.model_copy(update={"state": state}))
        extra: dict[str, Any] = {"witness": witness, "serial_read": read}
        if overridden:
            extra["override_by"] = override_by
            extra["overridden"] = [d.id for d in overridden]
        subjects = [f"bag:{bag.serial}", *(f"credential:{c}" for c in bag.contents)]
        subjects += [f"discrepancy:{d.id}" for d in overridden]
        with self._change(actor, "bag.open", subjects, extra, dry_run=dry_run):
            self._put(opened_bag)
            for cred in creds:
                self._put(cred)
            for d in overridden:
                self._put(d)
        return opened_bag

    def _check_override(self, actor: Actor, override_by: str) -> None:
        if override_by == actor.person:
            raise WitnessRequired("the override must come from someone other than the actor")
        person = self.person(override_by)
        if person.retired or not set(person.roles) & {Role.IW, Role.CA}:
            raise InputError(f"{override_by} cannot override: only an IW or CA can")
