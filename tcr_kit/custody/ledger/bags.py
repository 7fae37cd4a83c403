"""Tamper-evident bags on site: seal, store, reseal, retire, destroy, lose.

A bag serial is used once; the credentials sealed into a bag move with it.
"""

from __future__ import annotations

from collections.abc import Sequence

from tcr_kit.clock import utcnow
from tcr_kit.custody.ledger.guard import GuardedReader
from tcr_kit.custody.ledger.reading import normalise_serial
from tcr_kit.custody.ledger.storage import Actor, serialised
from tcr_kit.custody.lifecycle import (
    SEAL_NEEDS_WITNESS,
    BagAction,
    BagState,
    CredentialAction,
    CredentialState,
    WitnessRequired,
    bag_transition,
    credential_transition,
)
from tcr_kit.custody.models import Bag, Credential, Location
from tcr_kit.custody.models import build as _build
from tcr_kit.custody.models import revalidate as _revalidate
from tcr_kit.errors import InputError

__all__ = ["BagsMixin"]


class BagsMixin(GuardedReader):
    """Bags sealed, stored and resealed on site, and their end of life."""

    def _seal_contents(
        self, serial: str, contents: Sequence[str], actor: str, holder: str | None
    ) -> list[Credential]:
        creds = []
        for cid in contents:
            cred = self.credential(cid)
            if holder is not None and cred.holder not in (None, holder):
                raise InputError(f"credential {cid} is held by {cred.holder}, not {holder}")
            state = credential_transition(cid, cred.state, CredentialAction.SEAL, actor, None)
            creds.append(_revalidate(cred.model_copy(update={"state": state, "bag": serial})))
        return creds

    @serialised
    def seal_bag(
        self,
        actor: Actor,
        serial: str,
        contents: Sequence[str],
        *,
        witness: str | None,
        location: Location,
        kind: str = "TEB",
        holder: str | None = None,
        dry_run: bool = False,
    ) -> Bag:
        """Seal credentials into a new bag on site (a witness is required)."""
        serial = normalise_serial(serial)
        if SEAL_NEEDS_WITNESS and (witness is None or witness == actor.person):
            raise WitnessRequired(f"bag {serial}: sealing needs a witness other than the actor")
        self._require_person(witness, "witness")
        self._require_person(holder, "holder")
        self._permit_seal(actor, serial, contents, witness, holder)
        self._require_new_serial(serial)
        creds = self._seal_contents(serial, contents, actor.person, holder)
        bag = _build(
            Bag,
            serial=serial,
            kind=kind,
            contents=tuple(contents),
            state=BagState.SEALED,
            location=location,
            holder=holder,
            sealed_by=actor.person,
            sealed_at=utcnow(),
            seal_witness=witness,
        )
        subjects = [f"bag:{serial}", *(f"credential:{c}" for c in contents)]
        with self._change(actor, "bag.seal", subjects, {"witness": witness}, dry_run=dry_run):
            self._put(bag)
            for cred in creds:
                self._put(cred)
        return bag

    def _permit_seal(
        self,
        actor: Actor,
        serial: str,
        contents: Sequence[str],
        witness: str | None,
        holder: str | None,
    ) -> None:
        """The policy for sealing ``contents`` into bag ``serial`` (held by ``holder``)."""
        creds = [self.credential(c) for c in contents]
        self._check_rows([f"bag:{serial}"])
        held = [c.holder for c in creds] + ([holder] if holder else [])
        policy = self._permit("bag.seal", actor, witness=witness, credentials=creds)
        policy.require_own("bag.seal", self.person(actor.person), held)
        if witness is not None and holder is not None:
            policy.require_not_holder(
                "bag.seal", self.person(witness), "witness", {f"bag:{serial}": holder}
            )

    def _require_new_serial(self, serial: str) -> None:
        if self._get_or_none(Bag, serial) is not None:
            raise InputError(f"bag serial {serial} is already in the ledger (a bag is used once)")

    @serialised
    def store_bag(
        self, actor: Actor, serial: str, *, location: Location, dry_run: bool = False
    ) -> Bag:
        bag = self.bag(serial)
        self._permit("bag.store", actor, bags=[bag])
        state = bag_transition(bag.serial, bag.state, BagAction.STORE, actor.person, None)
        stored = _revalidate(bag.model_copy(update={"state": state, "location": location}))
        with self._change(actor, "bag.store", [f"bag:{bag.serial}"], dry_run=dry_run):
            self._put(stored)
        return stored

    @serialised
    def reseal_bag(
        self,
        actor: Actor,
        old_serial: str,
        new_serial: str,
        *,
        witness: str,
        location: Location,
        contents: Sequence[str] | None = None,
        kind: str | None = None,
        dry_run: bool = False,
    ) -> Bag:
        """Put credentials from an opened bag into a new bag; links old -> new serial."""
        old = self.bag(old_serial)
        new_serial = normalise_serial(new_serial)
        self._require_person(witness, "witness")
        self._permit("bag.reseal", actor, witness=witness, bags=[old], vouching=True)
        state = bag_transition(old.serial, old.state, BagAction.RESEAL, actor.person, witness)
        self._require_new_serial(new_serial)
        items = tuple(contents) if contents is not None else old.contents
        creds = self._seal_contents(new_serial, items, actor.person, old.holder)
        new = _build(
            Bag,
            serial=new_serial,
            kind=kind or old.kind,
            contents=items,
            state=BagState.SEALED,
            location=location,
            holder=old.holder,
            sealed_by=actor.person,
            sealed_at=utcnow(),
            seal_witness=witness,
            replaces=old.serial,
        )
        old_done = _revalidate(old.model_copy(update={"state": state, "replaced_by": new_serial}))
        subjects = [f"bag:{old.serial}", f"bag:{new_serial}", *(f"credential:{c}" for c in items)]
        with self._change(
            actor,
            "bag.reseal",
            subjects,
            {"witness": witness, "old": old.serial, "new": new_serial},
            dry_run=dry_run,
        ):
            self._put(new)
            self._put(old_done)
            for cred in creds:
                self._put(cred)
        return new

    @serialised
    def bag_action(
        self,
        actor: Actor,
        serial: str,
        action: BagAction,
        *,
        witness: str | None = None,
        dry_run: bool = False,
    ) -> Bag:
        """Retire, destroy or lose a bag (the other actions have their own methods)."""
        if action not in (BagAction.RETIRE, BagAction.DESTROY, BagAction.LOSE):
            raise InputError(f"use the dedicated method for {action.value}")
        bag = self.bag(serial)
        self._require_person(witness, "witness")
        self._permit("bag.end", actor, witness=witness, bags=[bag], vouching=True)
        state = bag_transition(bag.serial, bag.state, action, actor.person, witness)
        updated = _revalidate(bag.model_copy(update={"state": state}))
        creds = []
        if action == BagAction.LOSE:
            for cid in bag.contents:
                cred = self.credential(cid)
                if cred.bag == bag.serial:
                    creds.append(
                        _revalidate(
                            cred.model_copy(update={"state": CredentialState.LOST, "bag": None})
                        )
                    )
        extra = {"witness": witness} if witness else None
        subjects = [f"bag:{bag.serial}", *(f"credential:{c.id}" for c in creds)]
        with self._change(actor, f"bag.{action.value}", subjects, extra, dry_run=dry_run):
            self._put(updated)
            for cred in creds:
                self._put(cred)
        return updated
