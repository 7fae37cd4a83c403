"""Reading records: typed look-ups of people, credentials, bags, ... and a subject's audit
history. Every change method builds on these."""

from __future__ import annotations

from typing import Any

from tcr_kit.audit.chain import as_bytes
from tcr_kit.custody.errors import NotFound
from tcr_kit.custody.ledger.storage import LedgerStore
from tcr_kit.custody.models import (
    Bag,
    Ceremony,
    Credential,
    Discrepancy,
    Inspection,
    Person,
    ShareSet,
    Shipment,
)
from tcr_kit.custody.remote import SignedAttestation

__all__ = ["LedgerReader", "normalise_serial"]


def normalise_serial(serial: str) -> str:
    """Bag serials are compared upper-case without surrounding space."""
    return serial.strip().upper()


class LedgerReader(LedgerStore):
    """Look-ups by key (raising :class:`NotFound`) and listings, sorted by key."""

    def person(self, pid: str) -> Person:
        return self._get(Person, pid, "person")

    def people(self) -> list[Person]:
        return self._all(Person)

    def credential(self, cid: str) -> Credential:
        return self._get(Credential, cid, "credential")

    def credentials(self, holder: str | None = None) -> list[Credential]:
        return [c for c in self._all(Credential) if holder is None or c.holder == holder]

    def share_set(self, sid: str) -> ShareSet:
        return self._get(ShareSet, sid, "share set")

    def bag(self, serial: str) -> Bag:
        return self._get(Bag, normalise_serial(serial), "bag")

    def bags(self) -> list[Bag]:
        return self._all(Bag)

    def shipments(self, bag: str | None = None) -> list[Shipment]:
        return [s for s in self._all(Shipment) if bag is None or s.bag == bag]

    def inspections(self, bag: str | None = None) -> list[Inspection]:
        return [i for i in self._all(Inspection) if bag is None or i.bag == bag]

    def discrepancies(
        self, *, open_only: bool = False, about: str | None = None
    ) -> list[Discrepancy]:
        return [
            d
            for d in self._all(Discrepancy)
            if (not open_only or d.status == "open") and (about is None or about in d.objects)
        ]

    def discrepancy(self, did: str) -> Discrepancy:
        return self._get(Discrepancy, did, "discrepancy")

    def ceremony(self, number: int) -> Ceremony:
        return self._get(Ceremony, number, "ceremony")

    def attestation(self, digest_hex: str) -> SignedAttestation:
        from tcr_kit.custody import remote

        row = self._conn.execute(
            "SELECT doc FROM attestation WHERE key = ?", (digest_hex,)
        ).fetchone()
        if row is None:
            raise NotFound(f"attestation {digest_hex} is not in the ledger")
        return remote.parse(as_bytes(row[0]), f"ledger attestation {digest_hex}")

    def history(self, subject: str) -> list[dict[str, Any]]:
        """Audit events naming ``subject`` (e.g. ``bag:TEB-1``), oldest first."""
        return list(self.audit.events_about(subject))
