"""Versioned, strict, immutable records of the custody ledger.

Every record carries ``schema_version`` (currently 1), forbids unknown fields, is frozen,
and uses strict types: a record read back from the ledger is validated exactly like one
made in code. Identifiers are explicit constrained types.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from tcr_kit.custody.lifecycle import BagState, CredentialState
from tcr_kit.custody.wording import describe_location, inspection_outcome
from tcr_kit.errors import InputError

M = TypeVar("M", bound=BaseModel)

SCHEMA_VERSION = 1

PersonId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
"""A person's ledger identifier: lower-case letters, digits, ``.``, ``_``, ``-``."""
CredentialId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$")]
"""A credential's identifier (e.g. ``CO-EAST-3-card``), unique in the ledger."""
ShareSetId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$")]
"""A share set's identifier (as produced by the sharing engine)."""
BagSerial = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{2,31}$")]
"""A tamper-evident bag's pre-printed serial, upper-case (normalise before use)."""
DiscrepancyId = Annotated[str, StringConstraints(pattern=r"^D-[0-9]{4,}$")]
"""``D-0001``, numbered by the ledger."""
RecordId = Annotated[str, StringConstraints(pattern=r"^[A-Z]-[0-9]{4,}$")]
"""``S-0001`` (shipment), ``I-0001`` (inspection), numbered by the ledger."""
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
PublicKeyHex = Annotated[str, StringConstraints(pattern=r"^(?:[0-9a-f]{2}){32,300}$")]
"""A public key as lower-case hex: 32 raw bytes (Ed25519) or a DER SubjectPublicKeyInfo
(ECDSA P-256, as a card's signing key)."""
KeyAlgorithm = Literal["ed25519", "ecdsa-p256-sha256"]
Text = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


def _check_key(algorithm: str, public_key_hex: str) -> None:
    from tcr_kit.audit.signing import check_public_key

    try:
        check_public_key(algorithm, bytes.fromhex(public_key_hex))
    except (ValueError, TypeError, IndexError) as exc:
        raise ValueError(f"public key is not a valid {algorithm} key: {exc}") from None


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)

    schema_version: Literal[1] = 1


class Role(StrEnum):
    CO = "CO"
    """Crypto Officer (TCR): HSM activation credential."""
    RKSH = "RKSH"
    """Recovery Key Share Holder (TCR)."""
    CA = "CA"
    """Ceremony Administrator."""
    IW = "IW"
    """Internal Witness."""
    SSC = "SSC"
    """Safe Security Controller."""
    SA = "SA"
    """System Administrator."""


TCR_ROLES = frozenset({Role.CO, Role.RKSH})
STAFF_ROLES = frozenset({Role.CA, Role.IW, Role.SSC, Role.SA})


class Person(Record):
    id: PersonId
    name: Name
    roles: tuple[Role, ...] = Field(min_length=1)
    facility: Name | None = None
    public_key: PublicKeyHex | None = None
    key_algorithm: KeyAlgorithm | None = None
    retired: bool = False

    @model_validator(mode="after")
    def _roles_fit(self) -> Person:
        if len(set(self.roles)) != len(self.roles):
            raise ValueError("a role is listed twice")
        roles = set(self.roles)
        if roles & TCR_ROLES and roles & STAFF_ROLES:
            raise ValueError("a TCR cannot also hold a staff role")
        if Role.CO in roles and self.facility is None:
            raise ValueError("a Crypto Officer belongs to a facility")
        if (self.public_key is None) != (self.key_algorithm is None):
            raise ValueError("public_key and key_algorithm go together")
        if self.public_key is not None and self.key_algorithm is not None:
            _check_key(self.key_algorithm, self.public_key)
        return self

    @classmethod
    def new(
        cls,
        pid: str,
        name: str,
        roles: Sequence[str],
        *,
        facility: str | None = None,
        public_key: str | None = None,
        key_algorithm: str = "ed25519",
    ) -> Person:
        """A person from the roster command's fields: role names, the public key as hex (any
        case; stored lower-case), its algorithm only with a key. :class:`InputError` if bad."""
        try:
            parsed = tuple(Role(r) for r in roles)
        except ValueError as exc:
            raise InputError(f"person: {exc}") from None
        return build(
            cls,
            id=pid,
            name=name,
            roles=parsed,
            facility=facility,
            public_key=public_key.lower() if public_key else None,
            key_algorithm=key_algorithm if public_key else None,
        )


class CredentialKind(StrEnum):
    SMARTCARD = "smartcard"
    TOKEN = "token"  # noqa: S105 - a credential kind, not a password
    IKEY = "ikey"
    SAFE_DEPOSIT_KEY = "safe-deposit-key"
    USB_DRIVE = "usb-drive"
    HSM = "hsm"
    PAPER_SHARE = "paper-share"


class Credential(Record):
    id: CredentialId
    kind: CredentialKind
    serial: Name
    holder: PersonId | None = None
    share_set: ShareSetId | None = None
    share_index: int | None = Field(default=None, ge=1, le=255)
    enrolment_sha256: Sha256Hex | None = None
    enrolment_record: str | None = None
    state: CredentialState = CredentialState.ISSUED
    bag: BagSerial | None = None
    note: Text | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Credential:
        if self.share_index is not None and self.share_set is None:
            raise ValueError("share_index needs share_set")
        if self.enrolment_record is not None:
            digest = hashlib.sha256(self.enrolment_record.encode("utf-8")).hexdigest()
            if self.enrolment_sha256 != digest:
                raise ValueError("enrolment_sha256 does not match enrolment_record")
        if (self.state == CredentialState.SEALED) != (self.bag is not None):
            raise ValueError("a credential is in a bag exactly when it is sealed")
        return self


class ShareSet(Record):
    id: ShareSetId
    m: int = Field(ge=1, le=255)
    n: int = Field(ge=1, le=255)
    purpose: Text
    epoch: int = Field(ge=0)
    status: Literal["active", "retired"] = "active"

    @model_validator(mode="after")
    def _threshold(self) -> ShareSet:
        if self.m > self.n:
            raise ValueError(f"threshold m={self.m} exceeds share count n={self.n}")
        return self


class LocationKind(StrEnum):
    FACILITY = "facility"
    SAFE = "safe"
    SAFE_DEPOSIT_BOX = "safe-deposit-box"
    WITH_PERSON = "with-person"
    IN_TRANSIT = "in-transit"


class Location(Record):
    kind: LocationKind
    facility: Name | None = None
    safe: Name | None = None
    box: Name | None = None
    person: PersonId | None = None
    shipment: RecordId | None = None

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> Location:
        need = {
            LocationKind.FACILITY: ("facility",),
            LocationKind.SAFE: ("facility", "safe"),
            LocationKind.SAFE_DEPOSIT_BOX: ("box",),
            LocationKind.WITH_PERSON: ("person",),
            LocationKind.IN_TRANSIT: ("shipment",),
        }[self.kind]
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"location {self.kind.value} needs {', '.join(missing)}")
        return self

    @classmethod
    def where(
        cls,
        *,
        facility: str | None = None,
        safe: str | None = None,
        box: str | None = None,
        person: str | None = None,
    ) -> Location | None:
        """The location the command-line parts name (a person wins, then a safe, a box, a
        facility), or ``None`` when none is given. :class:`InputError` if malformed."""
        if person:
            return build(cls, kind=LocationKind.WITH_PERSON, person=person, facility=facility)
        if safe:
            return build(cls, kind=LocationKind.SAFE, facility=facility, safe=safe, box=box)
        if box:
            return build(cls, kind=LocationKind.SAFE_DEPOSIT_BOX, facility=facility, box=box)
        if facility:
            return build(cls, kind=LocationKind.FACILITY, facility=facility)
        return None

    def describe(self) -> str:
        """For people: "facility east", "safe credential-safe box 7 at east",
        "with tcr-3", "in transit (shipment S-0001)"."""
        return describe_location(
            self.kind.value,
            facility=self.facility,
            safe=self.safe,
            box=self.box,
            person=self.person,
            shipment=self.shipment,
        )


class Bag(Record):
    serial: BagSerial
    kind: Name = "TEB"
    contents: tuple[CredentialId, ...] = Field(min_length=1)
    state: BagState
    location: Location
    holder: PersonId | None = None
    sealed_by: PersonId
    sealed_at: AwareDatetime
    seal_witness: PersonId | None = None
    attestation_sha256: Sha256Hex | None = None
    replaces: BagSerial | None = None
    replaced_by: BagSerial | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Bag:
        if len(set(self.contents)) != len(self.contents):
            raise ValueError("a credential is listed twice in the bag")
        if self.seal_witness is None and self.attestation_sha256 is None:
            raise ValueError("a seal needs a witness or a signed remote attestation")
        if self.seal_witness is not None and self.seal_witness == self.sealed_by:
            raise ValueError("the witness must be someone other than the sealer")
        if (self.state == BagState.RESEALED) != (self.replaced_by is not None):
            raise ValueError("replaced_by is set exactly when the bag was resealed")
        if self.serial in (self.replaces, self.replaced_by):
            raise ValueError("a bag cannot replace itself")
        if (self.state == BagState.IN_TRANSIT) != (self.location.kind == LocationKind.IN_TRANSIT):
            raise ValueError("a bag is in transit exactly when its location says so")
        return self


class Shipment(Record):
    id: RecordId
    bag: BagSerial
    carrier: Name
    tracking: Name
    sender: Name
    recipient: Name
    shipped_at: AwareDatetime
    shipped_by: PersonId
    received_at: AwareDatetime | None = None
    received_by: PersonId | None = None

    @model_validator(mode="after")
    def _receipt(self) -> Shipment:
        if (self.received_at is None) != (self.received_by is None):
            raise ValueError("received_at and received_by go together")
        return self


class Inspection(Record):
    id: RecordId
    bag: BagSerial
    serial_expected: BagSerial
    serial_read: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    checklist: dict[str, bool]
    """Tamper checklist item -> passed (True) or failed (False)."""
    photo_sha256: tuple[Sha256Hex, ...] = ()
    inspector: PersonId
    witness: PersonId
    at: AwareDatetime
    ceremony: int | None = Field(default=None, ge=1)
    step: Name | None = None

    @model_validator(mode="after")
    def _people(self) -> Inspection:
        if self.witness == self.inspector:
            raise ValueError("the witness must be someone other than the inspector")
        if not self.checklist:
            raise ValueError("the tamper checklist is empty")
        return self

    @property
    def serial_matches(self) -> bool:
        return self.serial_read == self.serial_expected

    @property
    def tamper_found(self) -> bool:
        return not all(self.checklist.values())

    @property
    def outcome(self) -> str:
        return inspection_outcome(self.serial_read, self.serial_expected, self.checklist)


class DiscrepancyCategory(StrEnum):
    SERIAL_MISMATCH = "serial-mismatch"
    TAMPER = "tamper"
    WRONG_ITEM = "wrong-item"
    PROCEDURE = "procedure"
    EQUIPMENT = "equipment"
    TIME = "time"
    LOSS = "loss"
    OTHER = "other"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Discrepancy(Record):
    id: DiscrepancyId
    category: DiscrepancyCategory
    severity: Severity
    description: Text
    objects: tuple[Annotated[str, StringConstraints(pattern=r"^[a-z-]+:.+$")], ...] = ()
    """Linked objects as ``bag:SERIAL``, ``credential:ID``, ``person:ID``, ``shipment:S-..``."""
    ceremony: int | None = Field(default=None, ge=1)
    step: Name | None = None
    opened_at: AwareDatetime
    opened_by: PersonId
    status: Literal["open", "resolved"] = "open"
    resolution: Text | None = None
    resolved_by: PersonId | None = None
    resolved_at: AwareDatetime | None = None
    overrides: tuple[PersonId, ...] = ()
    """Witnesses who explicitly let a blocked action go ahead while this was open."""
    source: Text | None = None
    """Where a historical discrepancy was found (``tcr discrepancy import``): the published
    script, report or log it comes from. ``None`` for discrepancies recorded live."""

    @model_validator(mode="after")
    def _resolution(self) -> Discrepancy:
        resolved = (self.resolution, self.resolved_by, self.resolved_at)
        if self.status == "resolved" and any(v is None for v in resolved):
            raise ValueError("a resolved discrepancy needs resolution, resolved_by, resolved_at")
        if self.status == "open" and any(v is not None for v in resolved):
            raise ValueError("an open discrepancy has no resolution yet")
        return self


class Attendance(Record):
    """One participant of a ceremony: who, in which role, in the room or remote."""

    person: PersonId
    role: Name
    remote: bool = False


class Ceremony(Record):
    number: int = Field(ge=1)
    facility: Name
    date: AwareDatetime
    participants: tuple[PersonId, ...] = ()
    steps: tuple[Name, ...] = ()
    # Set by ``tcr ceremony open`` / ``close`` (a ceremony only *added* leaves them unset).
    script: Text | None = None
    """The printed script this ceremony runs (a reference, e.g. "KSK-55 script v1.2")."""
    attendance: tuple[Attendance, ...] = ()
    rehearsal: bool = False
    config_sha256: Sha256Hex | None = None
    """SHA-256 of the shared configuration (the part rehearsed and used for real)."""
    site_sha256: Sha256Hex | None = None
    """SHA-256 of the site file (paths, module locations, PIN sources) used here."""
    rehearsed_in: tuple[int, ...] = ()
    """Rehearsals whose shared configuration has the same hash as this ceremony's."""
    status: Literal["open", "closed"] | None = None
    opened_by: PersonId | None = None
    closed_at: AwareDatetime | None = None
    closed_by: PersonId | None = None


class SealAttestation(Record):
    """What a TCR signs at home when sealing a bag (see ``docs/remote-participation.md``)."""

    format: Literal["tcr-kit/seal-attestation"] = "tcr-kit/seal-attestation"
    bag_serial: BagSerial
    bag_kind: Name = "TEB"
    contents: tuple[CredentialId, ...] = Field(min_length=1)
    holder: PersonId
    sealed_at: AwareDatetime
    photo_sha256: tuple[Sha256Hex, ...] = ()
    note: Text | None = None
    algorithm: KeyAlgorithm = "ed25519"
    public_key: PublicKeyHex

    @model_validator(mode="after")
    def _key_fits_algorithm(self) -> SealAttestation:
        _check_key(self.algorithm, self.public_key)
        return self


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    return f"{where}: {err.get('msg')}" if where else str(err.get("msg"))


def build(model: type[M], **values: Any) -> M:
    """Construct a record; a validation failure becomes one-line :class:`InputError`."""
    try:
        return model(**values)
    except ValidationError as exc:
        raise InputError(f"{model.__name__.lower()}: {_first_error(exc)}") from None


def revalidate(record: M) -> M:
    """Validate again (``model_copy(update=...)`` skips validation); ``InputError`` if bad."""
    try:
        return type(record).model_validate(record.model_dump())
    except ValidationError as exc:
        raise InputError(f"{type(record).__name__.lower()}: {_first_error(exc)}") from None
