"""The public facts of one card, flat and typed: what ``tcr card list`` and ``check`` show.

:class:`~tcr_kit.cards.base.CardStatus` is the card's state as the backends see it (nested
records, a PIN status object). People and scripts compare cards by a handful of
flat facts instead: serial, state, share set and index, digests, key fingerprints, PIN tries
left. :class:`CardFacts` is that view, computed in one place so that every command and tool
shows the same facts under the same names. Nothing here needs the PIN.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tcr_kit.cards.base import CardState, CardStatus
from tcr_kit.cards.record import Backend

__all__ = ["CardFacts"]

_IDENTITY = (
    "backend",
    "location",
    "serial",
    "label",
    "model",
    "atr",
    "state",
    "pin_tries",
    "pin_tries_left",
)
_ENROLMENT = (
    "enrolment_id",
    "tcr_id",
    "tcr_name",
    "set_id",
    "index",
    "threshold",
    "count",
    "share_digest",
    "enrolled_at",
)
_KEYS = ("share_key_fingerprint", "signing_key_fingerprint")


@dataclass(frozen=True)
class CardFacts:
    """One card's public facts. Enrolment facts are ``None`` on a card without metadata
    (blank, or pending before the metadata was written); key fingerprints are ``None``
    where the card holds no keys of ours (PC/SC profile, blank tokens)."""

    backend: Backend
    location: str
    """Reader name, or PKCS#11 module and slot."""
    serial: str
    label: str | None
    model: str | None
    atr: str | None
    state: CardState
    pin_tries: str
    """The retry counter in words ("3 tries left", "blocked", "unknown (...)")."""
    pin_tries_left: int | None
    enrolment_id: str | None = None
    tcr_id: str | None = None
    tcr_name: str | None = None
    set_id: str | None = None
    index: int | None = None
    threshold: int | None = None
    count: int | None = None
    share_digest: str | None = None
    enrolled_at: str | None = None
    """ISO 8601 UTC with a ``Z``, as in the enrolment record."""
    share_key_fingerprint: str | None = None
    signing_key_fingerprint: str | None = None

    @classmethod
    def from_status(cls, status: CardStatus) -> CardFacts:
        """The facts of a card status (as read by ``card.status()``, without the PIN)."""
        ident, meta, keys = status.identity, status.meta, status.keys
        facts = cls(
            backend=ident.backend,
            location=status.location,
            serial=ident.serial,
            label=ident.label,
            model=ident.model,
            atr=ident.atr,
            state=status.state,
            pin_tries=status.pin.describe(),
            pin_tries_left=status.pin.tries_left,
            share_key_fingerprint=keys.share_encryption.fingerprint if keys else None,
            signing_key_fingerprint=keys.signing.fingerprint if keys else None,
        )
        if meta is None:
            return facts
        return replace(
            facts,
            enrolment_id=meta.enrolment_id,
            tcr_id=meta.tcr.id,
            tcr_name=meta.tcr.name,
            set_id=meta.share.set_id,
            index=meta.share.index,
            threshold=meta.share.threshold,
            count=meta.share.count,
            share_digest=meta.share.digest,
            enrolled_at=meta.enrolled_at.isoformat().replace("+00:00", "Z"),
        )

    @property
    def has_metadata(self) -> bool:
        """Whether the card carries enrolment metadata (enrolled, or pending after it)."""
        return self.enrolment_id is not None

    def to_dict(self) -> dict[str, object]:
        """The facts in display order, for JSON and tables.

        Identity and PIN facts are always present; the enrolment facts only for a card with
        metadata and the fingerprints only for a card with keys (absent, not ``null``, so a
        blank card does not look like an enrolled one with missing values).
        """
        names = list(_IDENTITY)
        if self.has_metadata:
            names += _ENROLMENT
        if self.share_key_fingerprint is not None:
            names += _KEYS
        return {name: getattr(self, name) for name in names}
