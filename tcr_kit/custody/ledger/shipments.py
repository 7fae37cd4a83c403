"""Bags on the move: a TCR's remote seal (from a signed attestation), shipping, and receipt
(serial read and attestation compared with the record)."""

from __future__ import annotations

from tcr_kit.clock import utcnow
from tcr_kit.custody.errors import DiscrepancyOpened
from tcr_kit.custody.ledger.bags import BagsMixin
from tcr_kit.custody.ledger.discrepancies import (
    DiscrepanciesMixin,
    Problem,
    discrepancy_message,
)
from tcr_kit.custody.ledger.reading import normalise_serial
from tcr_kit.custody.ledger.storage import Actor, serialised
from tcr_kit.custody.lifecycle import BagAction, BagState, bag_transition
from tcr_kit.custody.models import (
    Bag,
    DiscrepancyCategory,
    Location,
    LocationKind,
    Severity,
    Shipment,
)
from tcr_kit.custody.models import build as _build
from tcr_kit.custody.models import revalidate as _revalidate
from tcr_kit.custody.remote import SignedAttestation
from tcr_kit.errors import IntegrityError

__all__ = ["ShipmentsMixin"]


class ShipmentsMixin(BagsMixin, DiscrepanciesMixin):
    """Remote seals, shipments and receipts."""

    @serialised
    def record_remote_seal(
        self, actor: Actor, signed: SignedAttestation, *, dry_run: bool = False
    ) -> Bag:
        """Record a bag a TCR sealed at home, from their signed attestation, which must
        verify under the public key registered for them."""
        att = signed.attestation
        holder = self.person(att.holder)
        self._permit(
            "bag.remote-seal", actor, credentials=[self.credential(c) for c in att.contents]
        )
        self._check_rows([f"bag:{att.bag_serial}"])
        self.policy().require_own(
            "bag.remote-seal", holder, [self.credential(c).holder for c in att.contents]
        )
        if holder.public_key is None:
            raise IntegrityError(f"{holder.id} has no registered public key to check against")
        signed.verify(bytes.fromhex(holder.public_key))
        self._require_new_serial(att.bag_serial)
        creds = self._seal_contents(att.bag_serial, att.contents, holder.id, holder.id)
        bag = _build(
            Bag,
            serial=att.bag_serial,
            kind=att.bag_kind,
            contents=att.contents,
            state=BagState.SEALED,
            location=Location(kind=LocationKind.WITH_PERSON, person=holder.id),
            holder=holder.id,
            sealed_by=holder.id,
            sealed_at=att.sealed_at,
            attestation_sha256=signed.digest.hex(),
        )
        subjects = [f"bag:{bag.serial}", *(f"credential:{c}" for c in att.contents)]
        with self._change(
            actor,
            "bag.remote-seal",
            subjects,
            {"attestation_sha256": signed.digest.hex()},
            dry_run=dry_run,
        ):
            self._put(bag)
            self._put_attestation(signed)
            for cred in creds:
                self._put(cred)
        return bag

    @serialised
    def ship_bag(
        self,
        actor: Actor,
        serial: str,
        *,
        carrier: str,
        tracking: str,
        sender: str,
        recipient: str,
        dry_run: bool = False,
    ) -> Shipment:
        bag = self.bag(serial)
        self._permit("bag.ship", actor, bags=[bag])
        state = bag_transition(bag.serial, bag.state, BagAction.SHIP, actor.person, None)
        shipment = _build(
            Shipment,
            id=self._next_id(Shipment, "S"),
            bag=bag.serial,
            carrier=carrier,
            tracking=tracking,
            sender=sender,
            recipient=recipient,
            shipped_at=utcnow(),
            shipped_by=actor.person,
        )
        moved = _revalidate(
            bag.model_copy(
                update={
                    "state": state,
                    "location": Location(kind=LocationKind.IN_TRANSIT, shipment=shipment.id),
                }
            )
        )
        with self._change(
            actor, "bag.ship", [f"bag:{bag.serial}", f"shipment:{shipment.id}"], dry_run=dry_run
        ):
            self._put(moved)
            self._put(shipment)
        return shipment

    @serialised
    def receive_bag(
        self,
        actor: Actor,
        serial: str,
        *,
        serial_read: str,
        location: Location,
        attestation: SignedAttestation | None = None,
        dry_run: bool = False,
    ) -> Bag:
        """Record a bag's arrival (it stays unopened). The serial read off the bag is
        compared with the record; a mismatch, or an attestation that does not match or
        verify, is recorded and opens a discrepancy (raised as :class:`DiscrepancyOpened`
        after the commit)."""
        bag = self.bag(serial)
        self._permit("bag.receive", actor, bags=[bag])
        state = bag_transition(bag.serial, bag.state, BagAction.RECEIVE, actor.person, None)
        shipment_id = bag.location.shipment
        shipment = self._get(Shipment, shipment_id, "shipment")
        problems: list[Problem] = []
        read = normalise_serial(serial_read)
        if read != bag.serial:
            problems.append(
                (
                    DiscrepancyCategory.SERIAL_MISMATCH,
                    Severity.HIGH,
                    f"serial read on receipt {read!r} is not the recorded {bag.serial!r}",
                )
            )
        if attestation is not None:
            problems.extend(self._attestation_problems(bag, attestation))
        now = utcnow()
        received = _revalidate(bag.model_copy(update={"state": state, "location": location}))
        done = _revalidate(
            shipment.model_copy(update={"received_at": now, "received_by": actor.person})
        )
        opened = self._record_with_discrepancies(
            actor,
            "bag.receive",
            [f"bag:{bag.serial}", f"shipment:{shipment.id}"],
            [received, done],
            problems,
            {"serial_read": read, "attestation_checked": attestation is not None},
            [f"bag:{bag.serial}", f"shipment:{shipment.id}"],
            dry_run=dry_run,
        )
        if opened:
            raise DiscrepancyOpened(discrepancy_message(bag.serial, opened, dry_run), opened)
        return received

    def _attestation_problems(self, bag: Bag, attestation: SignedAttestation) -> list[Problem]:
        if bag.attestation_sha256 is None:
            return [
                (
                    DiscrepancyCategory.OTHER,
                    Severity.MEDIUM,
                    "an attestation was presented for a bag sealed on site",
                )
            ]
        if attestation.digest.hex() != bag.attestation_sha256:
            return [
                (
                    DiscrepancyCategory.SERIAL_MISMATCH,
                    Severity.HIGH,
                    "presented attestation is not the one recorded when the bag was sealed",
                )
            ]
        holder = self.person(attestation.attestation.holder)
        try:
            attestation.verify(bytes.fromhex(holder.public_key or ""))
        except IntegrityError as exc:
            return [(DiscrepancyCategory.TAMPER, Severity.CRITICAL, f"attestation: {exc}")]
        return []

    def ship_remotely_sealed(
        self,
        actor: Actor,
        signed: SignedAttestation,
        *,
        carrier: str,
        tracking: str,
        sender: str,
        recipient: str,
        dry_run: bool = False,
    ) -> Shipment | None:
        """Record a TCR's remote seal from their attestation and the bag's shipment: two
        changes (two audit events) in **one** transaction, so both are recorded or neither;
        :attr:`last_events` holds the events of both. A dry run tries both and records
        nothing; it returns ``None``."""
        with self._one_transaction(dry_run=dry_run) as events:
            self.record_remote_seal(actor, signed)
            events += self.last_events
            shipment = self.ship_bag(
                actor,
                signed.attestation.bag_serial,
                carrier=carrier,
                tracking=tracking,
                sender=sender,
                recipient=recipient,
            )
            events += self.last_events
        self.last_events = events
        return None if dry_run else shipment
