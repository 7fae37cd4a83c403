"""The enrolment record: which share went onto which card, for which TCR, when.

Written as JSON by ``tcr card enrol`` and imported later by the custody ledger. The same
public facts (minus the reader name) are kept on the card itself as :class:`CardMeta`, so a
record lost after the card was committed can be rebuilt from the card, and a card can be
checked against its record without the PIN.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tcr_kit.errors import InputError, OperationalError
from tcr_kit.fileio import atomic_output

RECORD_FORMAT: Literal["tcr-kit.card-enrolment"] = "tcr-kit.card-enrolment"
"""The ``format`` marker of every enrolment record file."""
RECORD_VERSION: Literal[1] = 1
"""The version of the enrolment record format this code writes and reads."""

Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
"""A SHA-256 digest as 64 lower-case hex digits."""
HexId = Annotated[str, Field(pattern=r"^[0-9a-f]{2,64}$")]
"""An identifier as lower-case hex."""

Backend = Literal["pkcs11", "pcsc"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TcrRef(_Model):
    """The TCR the card is issued to."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    id: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")]


class ShareRef(_Model):
    """What the card holds, described without giving it away."""

    format: Literal["tcr-native", "opaque"]
    set_id: HexId | None = None
    index: Annotated[int, Field(ge=1, le=255)] | None = None
    threshold: Annotated[int, Field(ge=1, le=255)] | None = None
    count: Annotated[int, Field(ge=1, le=255)] | None = None
    label: str | None = None
    digest: Sha256Hex
    """SHA-256 of exactly the bytes stored on the card (the compact share encoding)."""
    length: Annotated[int, Field(ge=1, le=8192)]

    @model_validator(mode="after")
    def _native_fields(self) -> ShareRef:
        if self.format == "tcr-native" and (self.set_id is None or self.index is None):
            raise ValueError("a native share names its set id and index")
        return self


class KeyRef(_Model):
    """A key pair generated on the card; only the public half leaves it."""

    algorithm: Literal["ec-p256", "ed25519"]
    """``ec-p256``: ECDH or ECDSA over SHA-256 on P-256; ``ed25519``: RFC 8032 Ed25519."""
    public_key_der: Annotated[str, Field(pattern=r"^[0-9a-f]+$")]
    """SubjectPublicKeyInfo, DER, hex."""
    fingerprint: Sha256Hex
    """SHA-256 of the DER public key."""

    def public_key_raw(self) -> bytes:
        """The raw public key: 32 bytes (Ed25519) or the 65-byte uncompressed point (P-256)."""
        der = bytes.fromhex(self.public_key_der)
        return der[-32:] if self.algorithm == "ed25519" else der[-65:]


class CardKeys(_Model):
    share_encryption: KeyRef
    signing: KeyRef


class CardIdentity(_Model):
    """How a card is recognised. ``serial`` is the token serial or the serial kept on the card."""

    backend: Backend
    serial: Annotated[str, Field(min_length=1, max_length=64)]
    label: str | None = None
    model: str | None = None
    manufacturer: str | None = None
    atr: str | None = None

    def describe(self) -> str:
        name = f" '{self.label}'" if self.label else ""
        return f"{self.backend} card{name} serial {self.serial}"


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() != UTC.utcoffset(value):
        raise ValueError("time must be timezone-aware UTC")
    return value


class CardMeta(_Model):
    """Public enrolment facts stored on the card itself (readable without the PIN)."""

    version: Literal[1] = 1
    enrolment_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    tcr: TcrRef
    share: ShareRef
    enrolled_at: datetime
    keys: CardKeys | None = None

    _utc = field_validator("enrolled_at", mode="after")(_aware)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> CardMeta:
        return cls.model_validate_json(data, strict=False)


class EnrolmentRecord(_Model):
    """The record of one enrolment, as written to a JSON file (format version 1)."""

    format: Literal["tcr-kit.card-enrolment"] = RECORD_FORMAT
    version: Literal[1] = RECORD_VERSION
    profile: Literal["tcr-pkcs11-v1", "tcr-iso7816-v1"]
    enrolment_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    card: CardIdentity
    tcr: TcrRef
    share: ShareRef
    keys: CardKeys | None = None
    enrolled_at: datetime

    _utc = field_validator("enrolled_at", mode="after")(_aware)

    @model_validator(mode="after")
    def _profile_matches(self) -> EnrolmentRecord:
        if self.card.backend == "pkcs11":
            if self.profile != "tcr-pkcs11-v1" or self.keys is None:
                raise ValueError("a PKCS#11 enrolment uses profile tcr-pkcs11-v1 and has keys")
        else:
            if self.profile != "tcr-iso7816-v1" or self.keys is not None:
                raise ValueError("a PC/SC enrolment uses profile tcr-iso7816-v1, without keys")
            if self.card.atr is None:
                raise ValueError("a PC/SC enrolment records the card's ATR")
        return self

    @classmethod
    def from_card(cls, identity: CardIdentity, meta: CardMeta) -> EnrolmentRecord:
        return cls(
            profile="tcr-pkcs11-v1" if identity.backend == "pkcs11" else "tcr-iso7816-v1",
            enrolment_id=meta.enrolment_id,
            card=identity,
            tcr=meta.tcr,
            share=meta.share,
            keys=meta.keys,
            enrolled_at=meta.enrolled_at,
        )

    def describe_card(self) -> str:
        """The card in words a person looks for: ``the card of TCR tcr-3 (Ann), serial 0A1B``."""
        return f"the card of TCR {self.tcr.id} ({self.tcr.name}), serial {self.card.serial}"

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=True), indent=2) + "\n"


def write_record(record: EnrolmentRecord, path: Path, *, force: bool = False) -> None:
    """Write ``record`` to ``path`` (mode 0600, atomically); never over a file unless ``force``."""
    with atomic_output(path, force=force) as out:
        out.write(record.to_json().encode())


def load_record(path: Path) -> EnrolmentRecord:
    """Read and validate an enrolment record file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OperationalError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return EnrolmentRecord.model_validate_json(data, strict=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "record"
        raise InputError(
            f"{path}: not a valid enrolment record ({where}: {first['msg']})"
        ) from None
