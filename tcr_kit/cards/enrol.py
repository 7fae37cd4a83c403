"""Enrol, check, read, rotate and wipe: the card operations the CLI and other parts call.

Everything here talks to a :class:`~tcr_kit.cards.base.Card` only. Enrolment is atomic
from the user's side: the card is marked *pending* first, the share and metadata are
written, read back and verified, and the commit marker goes on the card last; the record
file is written after that. A re-run after an interruption either restarts a pending card
cleanly or, when the card was committed with this very share, completes by writing the
record from the card.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tcr_kit.cards.base import Card, CardStatus, check_new_pin
from tcr_kit.cards.errors import (
    AlreadyEnrolled,
    CardError,
    CardRemoved,
    CredentialCorrupt,
    ForeignShareSet,
    NotEnrolled,
    WrongCard,
)
from tcr_kit.cards.record import (
    CardMeta,
    EnrolmentRecord,
    SigningAlgorithm,
    TcrRef,
    write_record,
)
from tcr_kit.cards.selection import CardSelector, open_card
from tcr_kit.cards.shareinfo import prepare_share
from tcr_kit.clock import utcnow
from tcr_kit.errors import FileExistsRefused, InputError
from tcr_kit.secrets import SecretBuffer, random_bytes

__all__ = [
    "CardSelector",  # defined in tcr_kit.cards.selection; kept importable from here
    "CheckResult",
    "EnrolResult",
    "check_card",
    "enrol",
    "enrol_card",
    "match_record",
    "open_card",  # defined in tcr_kit.cards.selection; kept importable from here
    "read_share",
    "rotate",
    "rotate_cards",
    "wipe_card",
]


@dataclass(frozen=True)
class EnrolResult:
    record: EnrolmentRecord
    completed_interrupted: bool = False
    """True when the card was already committed with this share and only the record was
    missing (an interrupted earlier run)."""


def enrol_card(
    card: Card,
    share: bytes,
    *,
    tcr: TcrRef,
    current_pin: SecretBuffer,
    new_pin: SecretBuffer,
    record_path: Path,
    puk: SecretBuffer | None = None,
    force: bool = False,
    source: str = "",
    signing_algorithm: SigningAlgorithm | None = None,
) -> EnrolResult:
    """Bind one share to one card and one TCR; write the enrolment record.

    ``current_pin`` is the card's transport PIN (or the TCR's PIN when re-running an
    interrupted enrolment); the card's PIN becomes ``new_pin``. ``puk`` (PC/SC only) adds a
    recovery slot so the share survives an unblock. ``signing_algorithm`` (PKCS#11 only)
    insists on the signing key's algorithm; by default it is Ed25519 where the token has it.
    """
    if signing_algorithm is not None and not _holds_signing_key(card):
        raise InputError(
            "a signing key algorithm applies to PKCS#11 tokens only: a PC/SC card (profile"
            " tcr-iso7816-v1) holds no signing key"
        )
    prepared = prepare_share(share, source)
    check_new_pin(new_pin)
    status = card.status()
    if status.state == "enrolled":
        meta = status.meta
        assert meta is not None  # noqa: S101 - enrolled implies metadata
        if (
            hmac.compare_digest(meta.share.digest, prepared.ref.digest)
            and meta.tcr == tcr
            and not record_path.exists()
        ):
            record = EnrolmentRecord.from_card(card.identity(), meta)
            write_record(record, record_path)
            return EnrolResult(record, completed_interrupted=True)
        raise AlreadyEnrolled(
            f"{card.identity().describe()} is already enrolled"
            f" (share set {meta.share.set_id or '-'} index {meta.share.index or '-'},"
            f" TCR {meta.tcr.id}); wipe it first"
        )
    if record_path.exists() and not force:
        raise FileExistsRefused(str(record_path))

    if not hmac.compare_digest(bytes(current_pin.view()), bytes(new_pin.view())):
        card.change_pin(current_pin, new_pin)
    enrolment_id = random_bytes(16).hex()
    if signing_algorithm is None:
        keys = card.begin_enrolment(new_pin, puk, enrolment_id)
    else:
        from tcr_kit.cards.pkcs11_backend import Pkcs11Card

        assert isinstance(card, Pkcs11Card)  # noqa: S101 - checked above
        keys = card.begin_enrolment(new_pin, puk, enrolment_id, signing_algorithm=signing_algorithm)
    meta = CardMeta(
        enrolment_id=enrolment_id,
        tcr=tcr,
        share=prepared.ref,
        enrolled_at=utcnow(),
        keys=keys,
    )
    card.write_credential(new_pin, prepared.data, meta)

    # Read back and verify everything before committing.
    with card.read_credential(new_pin) as back:
        if not hmac.compare_digest(bytes(back.view()), prepared.data):
            raise CredentialCorrupt("the share read back differs from the one written")
    card.verify_keys(new_pin, meta)
    after = card.status()
    if after.state != "pending" or after.meta != meta:
        raise CredentialCorrupt("the card's metadata read back differs from what was written")

    card.commit(new_pin, meta)
    if card.status().state != "enrolled":
        raise CredentialCorrupt("the commit marker did not stick")
    record = EnrolmentRecord.from_card(card.identity(), meta)
    write_record(record, record_path, force=force)
    return EnrolResult(record)


def _holds_signing_key(card: Card) -> bool:
    from tcr_kit.cards.pkcs11_backend import Pkcs11Card

    return isinstance(card, Pkcs11Card)


enrol = enrol_card
"""The same function under its first name (``from tcr_kit.cards.enrol import enrol``); the
package exports it as ``enrol_card`` because ``tcr_kit.cards.enrol`` is also this module."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of ``tcr card check`` (raised errors mean failure; this means pass)."""

    status: CardStatus
    record_matches: bool | None
    """None when no record was given."""
    share_intact: bool | None
    """None when no PIN was given (the share was not read)."""
    notes: list[str] = field(default_factory=list)


def match_record(status: CardStatus, record: EnrolmentRecord) -> None:
    """Raise unless the card in ``status`` is the one ``record`` names, with its enrolment."""
    got, want = status.identity, record.card
    if got.backend != want.backend or got.serial != want.serial:
        raise WrongCard(
            f"wrong card: inserted {got.describe()}, but the record is for TCR"
            f" {record.tcr.id} ({record.tcr.name}), {want.describe()}"
        )
    meta = status.meta
    if meta is None or status.state != "enrolled":
        raise NotEnrolled(
            f"{got.describe()} is {status.state}: it holds no committed enrolment"
            " (an interrupted enrolment is completed by running enrol again)"
        )
    if record.share.set_id is not None and meta.share.set_id != record.share.set_id:
        raise ForeignShareSet(
            f"{got.describe()} holds a share of set {meta.share.set_id},"
            f" not of set {record.share.set_id}"
        )
    if meta.enrolment_id != record.enrolment_id:
        raise WrongCard(
            f"{got.describe()} was re-enrolled (enrolment {meta.enrolment_id},"
            f" record names {record.enrolment_id})"
        )
    if not hmac.compare_digest(meta.share.digest, record.share.digest):
        raise CredentialCorrupt("the card's share digest differs from the record")
    if record.keys is not None and status.keys != record.keys:
        raise WrongCard(f"{got.describe()}: public key fingerprints differ from the record")


def check_card(
    card: Card,
    *,
    record: EnrolmentRecord | None = None,
    pin: SecretBuffer | None = None,
) -> CheckResult:
    """Check a card: identity and fingerprints against ``record`` and, with ``pin``, the share.

    The share is decrypted, its digest compared with the card's metadata (and the record),
    a native share's own checksum verified, and the plaintext wiped. It is never returned.
    """
    status = card.status()
    notes: list[str] = []
    if record is not None:
        match_record(status, record)
    elif status.state != "enrolled":
        raise NotEnrolled(f"{status.identity.describe()} is {status.state}")
    if status.pin.tries_left is None and not status.pin.blocked:
        notes.append(f"PIN tries: {status.pin.describe()}")
    intact: bool | None = None
    if pin is not None:
        with card.read_credential(pin) as share:
            digest = hashlib.sha256(share.view()).hexdigest()
            assert status.meta is not None  # noqa: S101 - enrolled implies metadata
            if record is not None and not hmac.compare_digest(digest, record.share.digest):
                raise CredentialCorrupt("the share on the card does not match the record")
            prepared = prepare_share(bytes(share.view()), "share on the card")
            if not hmac.compare_digest(prepared.ref.digest, status.meta.share.digest):
                raise CredentialCorrupt("the share on the card is not in canonical form")
        intact = True
    return CheckResult(status, record is not None or None, intact, notes)


def read_share(
    card: Card, pin: SecretBuffer, *, record: EnrolmentRecord | None = None
) -> SecretBuffer:
    """The share bytes on ``card`` (caller wipes them); checked against ``record`` if given."""
    status = card.status()
    if record is not None:
        match_record(status, record)
    elif status.state != "enrolled":
        raise NotEnrolled(f"{status.identity.describe()} is {status.state}")
    return card.read_credential(pin)


def wipe_card(card: Card, pin: SecretBuffer, *, record: EnrolmentRecord | None = None) -> None:
    """Remove the enrolment from ``card`` (checked against ``record`` first, if given)."""
    status = card.status()
    if record is not None:
        match_record(status, record)
    if status.state == "blank":
        raise NotEnrolled(f"{status.identity.describe()} is already blank")
    card.wipe(pin)
    if card.status().state != "blank":
        raise CredentialCorrupt("the card is not blank after the wipe")


def rotate(
    old_card: Card,
    old_pin: SecretBuffer,
    new_card: Card,
    *,
    new_current_pin: SecretBuffer,
    new_pin: SecretBuffer,
    record_path: Path,
    old_record: EnrolmentRecord | None = None,
    tcr: TcrRef | None = None,
    puk: SecretBuffer | None = None,
    force: bool = False,
    signing_algorithm: SigningAlgorithm | None = None,
) -> EnrolResult:
    """Move a share from ``old_card`` to ``new_card``, verify it there, then wipe the old card.

    Both cards are open (two readers, or tokens); they stay open for the caller to close.
    ``signing_algorithm``: the new card's signing key, as for :func:`enrol_card`.
    """
    return rotate_cards(
        lambda: old_card,
        lambda: new_card,
        old_pin,
        new_current_pin=new_current_pin,
        new_pin=new_pin,
        record_path=record_path,
        old_record=old_record,
        tcr=tcr,
        puk=puk,
        force=force,
        close_cards=False,
        signing_algorithm=signing_algorithm,
    )


def rotate_cards(
    open_old: Callable[[], Card],
    open_new: Callable[[], Card],
    old_pin: SecretBuffer,
    *,
    new_current_pin: SecretBuffer,
    new_pin: SecretBuffer,
    record_path: Path,
    old_record: EnrolmentRecord | None = None,
    tcr: TcrRef | None = None,
    puk: SecretBuffer | None = None,
    force: bool = False,
    close_cards: bool = True,
    signing_algorithm: SigningAlgorithm | None = None,
) -> EnrolResult:
    """:func:`rotate` for cards that need not be present at the same time (one reader).

    ``open_old`` is called twice (to read the share, then to wipe the old card) and
    ``open_new`` once; each card is closed after use (unless ``close_cards`` is false), so
    the callables may ask for a card swap and wait for it. The share is held in memory and
    wiped at the end. The old card is wiped only after the new card verified, and only if
    it is the same old card again.
    """
    old = open_old()
    try:
        old_status = old.status()
        if old_record is not None:
            match_record(old_status, old_record)
        if old_status.meta is None or old_status.state != "enrolled":
            raise NotEnrolled(f"{old_status.identity.describe()} holds no committed enrolment")
        old_meta = old_status.meta
        share = old.read_credential(old_pin)
    finally:
        if close_cards:
            old.close()
    try:
        new = open_new()
        try:
            if new.identity() == old_status.identity:
                raise WrongCard(
                    f"{old_status.identity.describe()} is the old card; insert the new card"
                )
            result = enrol_card(
                new,
                bytes(share.view()),
                tcr=tcr or old_meta.tcr,
                current_pin=new_current_pin,
                new_pin=new_pin,
                record_path=record_path,
                puk=puk,
                force=force,
                source="share on the old card",
                signing_algorithm=signing_algorithm,
            )
        finally:
            if close_cards:
                new.close()
    finally:
        share.wipe()
    if not hmac.compare_digest(result.record.share.digest, old_meta.share.digest):
        raise CredentialCorrupt("the new card's share digest differs from the old card's")
    try:
        _wipe_old_card(open_old, old_pin, old_status, old_meta, close_cards)
    except CardError as exc:
        # The new card is done: whatever failed here, say so, and what is left to do.
        detail = exc.detail if isinstance(exc, CardRemoved) else str(exc)
        raise CardError(
            f"{detail}. The new card is enrolled and its record is written ({record_path}); the"
            f" old card ({old_status.identity.describe()}) may not be wiped: check it and wipe"
            " it with 'tcr card wipe'"
        ) from None
    return result


def _wipe_old_card(
    open_old: Callable[[], Card],
    old_pin: SecretBuffer,
    old_status: CardStatus,
    old_meta: CardMeta,
    close_cards: bool,
) -> None:
    """The last step of a rotation: wipe the old card if it is the same old card again."""
    old = open_old()
    try:
        again = old.status()
        if again.identity != old_status.identity or again.meta != old_meta:
            raise WrongCard(
                f"to finish the rotation insert the old card ({old_status.identity.describe()});"
                f" inserted {again.identity.describe()}. The new card is enrolled and recorded;"
                " wipe the old card with 'tcr card wipe'"
            )
        old.wipe(old_pin)
        if old.status().state != "blank":
            raise CredentialCorrupt("the old card is not blank after the wipe")
    finally:
        if close_cards:
            old.close()
