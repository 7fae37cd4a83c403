"""The card interface every backend implements, and the PIN rules they share.

A backend is one small adapter: :class:`tcr_kit.cards.pkcs11_backend.Pkcs11Card` for a
PKCS#11 token, :class:`tcr_kit.cards.pcsc_backend.PcscCard` for an ISO 7816 card in a PC/SC
reader (itself built on the one-method :class:`tcr_kit.cards.apdu.ApduConnection`). The
enrolment logic in :mod:`tcr_kit.cards.enrol` only talks to :class:`Card`.

Every method that needs the PIN takes it as a :class:`SecretBuffer`; the caller owns and
wipes it. Before a PIN is presented the backend reads how many tries are left without
spending one and refuses the last try unless ``allow_last_try`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from tcr_kit.cards.errors import BadPin, LastTryRefused, PinBlocked
from tcr_kit.cards.record import CardIdentity, CardKeys, CardMeta
from tcr_kit.secrets import SecretBuffer

CardState = Literal["blank", "pending", "enrolled"]
"""blank: nothing of ours; pending: an enrolment began but was not committed; enrolled."""

MIN_PIN_LENGTH = 6
"""Shortest PIN accepted for a TCR."""
MAX_PIN_LENGTH = 16
"""Longest PIN (the ISO profile pads PINs to 16 bytes)."""


@dataclass(frozen=True)
class PinStatus:
    """What the card says about its PIN retry counter, read without spending a try."""

    tries_left: int | None
    """Tries left, or ``None`` where the card cannot tell (SoftHSM2, most PKCS#11 tokens)."""
    blocked: bool = False
    count_low: bool = False
    """PKCS#11 ``CKF_USER_PIN_COUNT_LOW``: at least one wrong PIN since the last good one."""
    final_try: bool = False
    """PKCS#11 ``CKF_USER_PIN_FINAL_TRY``, or an ISO card answering 63C1."""

    @property
    def last_try(self) -> bool:
        return self.final_try or self.tries_left == 1

    def describe(self) -> str:
        if self.blocked:
            return "blocked"
        if self.tries_left is not None:
            return f"{self.tries_left} {'try' if self.tries_left == 1 else 'tries'} left"
        if self.final_try:
            return "final try"
        note = ", count low (a wrong PIN was entered)" if self.count_low else ""
        return f"unknown (token does not report tries){note}"


@dataclass(frozen=True)
class CardStatus:
    """Everything a card tells without the PIN."""

    identity: CardIdentity
    location: str
    """Reader name or PKCS#11 module and slot."""
    state: CardState
    meta: CardMeta | None
    pin: PinStatus
    keys: CardKeys | None
    """Public keys as found on the card right now (PKCS#11 only)."""


class Card(Protocol):
    """One card or token, opened by a backend. Close it when done."""

    allow_last_try: bool

    def identity(self) -> CardIdentity: ...

    def status(self) -> CardStatus: ...

    def pin_status(self) -> PinStatus: ...

    def verify_pin(self, pin: SecretBuffer) -> None:
        """Present the PIN once (raises PinIncorrect / PinBlocked / LastTryRefused)."""

    def change_pin(self, old: SecretBuffer, new: SecretBuffer) -> None: ...

    def unblock(self, puk: SecretBuffer, new_pin: SecretBuffer) -> None:
        """Reset the PIN with the PUK (ISO) or SO PIN (PKCS#11)."""

    def begin_enrolment(
        self, pin: SecretBuffer, puk: SecretBuffer | None, enrolment_id: str
    ) -> CardKeys | None:
        """Remove anything left by an earlier uncommitted enrolment; generate key pairs."""

    def write_credential(self, pin: SecretBuffer, share: bytes, meta: CardMeta) -> None:
        """Store the share (encrypted) and the public metadata, uncommitted."""

    def read_credential(self, pin: SecretBuffer) -> SecretBuffer:
        """Decrypt the stored share; checks it against the digest in the card's metadata."""

    def verify_keys(self, pin: SecretBuffer, meta: CardMeta) -> None:
        """Check key attributes (non-extractable, generated on the card) and fingerprints."""

    def commit(self, pin: SecretBuffer, meta: CardMeta) -> None:
        """Mark the enrolment complete; written last."""

    def wipe(self, pin: SecretBuffer) -> None:
        """Remove the enrolment (commit marker first)."""

    def close(self) -> None: ...


def guard_pin_attempt(status: PinStatus, allow_last_try: bool) -> None:
    """Refuse to present a PIN to a blocked card, or on the last try unless allowed."""
    if status.blocked:
        raise PinBlocked()
    if status.last_try and not allow_last_try:
        raise LastTryRefused()


def check_new_pin(pin: SecretBuffer) -> None:
    """A new PIN: 6 to 16 printable ASCII characters."""
    raw = pin.view()
    if not MIN_PIN_LENGTH <= len(raw) <= MAX_PIN_LENGTH:
        raise BadPin(f"a PIN has {MIN_PIN_LENGTH} to {MAX_PIN_LENGTH} characters")
    if any(b < 0x20 or b > 0x7E for b in raw):
        raise BadPin("a PIN uses printable ASCII characters only")
