"""The enrolment record: which share went onto which card, for which TCR, when.

Written as JSON by ``tcr card enrol`` and imported later by the custody ledger. The same
public facts (minus the reader name) are kept on the card itself as :class:`CardMeta`, so a
record lost after the card was committed can be rebuilt from the card, and a card can be
checked against its record without the PIN.

The records are frozen dataclasses checked field by field on construction, and parsed from
JSON by :func:`_parse` with the same rules (unknown fields refused, required fields present,
every constraint below). They were pydantic models; ``tcr card check`` reads a record and
the card's own copy of it, and pydantic's import and schema building alone cost more than
the 0.3 s the whole command may take (issue 14). The checks are unchanged: each field's
type, pattern and bounds, timezone-aware UTC times, and the rules between fields.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, get_args

from tcr_kit.errors import InputError, OperationalError
from tcr_kit.fileio import atomic_output

RECORD_FORMAT: Literal["tcr-kit.card-enrolment"] = "tcr-kit.card-enrolment"
"""The ``format`` marker of every enrolment record file."""
RECORD_VERSION: Literal[1] = 1
"""The version of the enrolment record format this code writes and reads."""

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
"""A SHA-256 digest as 64 lower-case hex digits."""
_HEX_ID = re.compile(r"[0-9a-f]{2,64}")
"""An identifier as lower-case hex."""
_ENROLMENT_ID = re.compile(r"[0-9a-f]{32}")
_TCR_ID = re.compile(r"[A-Za-z0-9._-]+")
_HEX = re.compile(r"[0-9a-f]+")

Backend = Literal["pkcs11", "pcsc"]
SigningAlgorithm = Literal["ed25519", "ec-p256"]
"""The algorithm of a card's signing key, as :class:`KeyRef` names it."""

R = TypeVar("R", bound="_Record")


class _Invalid(ValueError):
    """A field that breaks its record's rules; ``loc`` is the dotted path to it."""

    def __init__(self, loc: str, msg: str) -> None:
        super().__init__(f"{loc}: {msg}" if loc else msg)
        self.loc = loc
        self.msg = msg


def _text(
    loc: str,
    value: object,
    *,
    min_length: int = 0,
    max_length: int | None = None,
    pattern: re.Pattern[str] | None = None,
    optional: bool = False,
) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise _Invalid(loc, "must be a string")
    if len(value) < min_length:
        raise _Invalid(loc, f"must have at least {min_length} characters")
    if max_length is not None and len(value) > max_length:
        raise _Invalid(loc, f"must have at most {max_length} characters")
    if pattern is not None and pattern.fullmatch(value) is None:
        raise _Invalid(loc, f"must match '{pattern.pattern}'")


def _number(loc: str, value: object, low: int, high: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Invalid(loc, "must be an integer")
    if not low <= value <= high:
        raise _Invalid(loc, f"must be from {low} to {high}")


def _choice(loc: str, value: object, allowed: object) -> None:
    # Compared with the type too: True == 1 and 1.0 == 1 are not the literal 1.
    if not any(type(value) is type(a) and value == a for a in get_args(allowed)):
        raise _Invalid(loc, f"must be one of {', '.join(map(repr, get_args(allowed)))}")


def _record(loc: str, value: object, kind: type[_Record], *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, kind):
        raise _Invalid(loc, f"must be a {kind.__name__}")


def _utc(loc: str, value: object) -> None:
    if not isinstance(value, datetime):
        raise _Invalid(loc, "must be a datetime")
    if value.tzinfo is None or value.utcoffset() != UTC.utcoffset(value):
        raise _Invalid(loc, "time must be timezone-aware UTC")


def _time_text(value: datetime) -> str:
    """ISO 8601 with ``Z`` (microseconds only when there are some), as the records have
    always been written."""
    return value.isoformat().replace("+00:00", "Z")


class _Record:
    """What every record shares: JSON in field order without ``None``s, and parsing."""

    _NESTED: ClassVar[dict[str, type[_Record]]] = {}
    """Fields holding a record of their own, parsed from a JSON object."""
    _TIMES: ClassVar[tuple[str, ...]] = ()
    """Fields holding a time, parsed from ISO 8601 text."""

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON values, in field order, without the fields that are ``None``."""
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, _Record):
                value = value.to_dict()
            elif isinstance(value, datetime):
                value = _time_text(value)
            out[f.name] = value
        return out


def _at(loc: str, name: str) -> str:
    # A field name comes from the file: one with a control character (a newline) is shown
    # escaped, so that the error stays one line.
    shown = name if name.isprintable() else repr(name)
    return f"{loc}.{shown}" if loc else shown


def _parse(kind: type[R], data: object, loc: str = "") -> R:
    """A record of ``kind`` from parsed JSON, with every check its constructor makes;
    :class:`_Invalid` (a ``ValueError``) names the first field that fails."""
    if not isinstance(data, dict):
        raise _Invalid(loc, "must be a JSON object")
    known = {f.name: f for f in fields(kind)}  # type: ignore[arg-type]
    for name in data:
        if name not in known:
            raise _Invalid(_at(loc, str(name)), "extra field not permitted")
    values: dict[str, Any] = {}
    for name, f in known.items():
        if name not in data:
            if f.default is f.default_factory:  # both MISSING: a required field
                raise _Invalid(_at(loc, name), "field required")
            continue
        value = data[name]
        if value is not None and name in kind._NESTED:
            value = _parse(kind._NESTED[name], value, _at(loc, name))
        elif value is not None and name in kind._TIMES:
            if not isinstance(value, str):
                raise _Invalid(_at(loc, name), "must be an ISO 8601 time")
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise _Invalid(_at(loc, name), "must be an ISO 8601 time") from None
        values[name] = value
    try:
        return kind(**values)
    except _Invalid as exc:
        raise _Invalid(_at(loc, exc.loc), exc.msg) from None


@dataclass(frozen=True, kw_only=True)
class TcrRef(_Record):
    """The TCR the card is issued to."""

    name: str
    id: str

    def __post_init__(self) -> None:
        _text("name", self.name, min_length=1, max_length=64)
        _text("id", self.id, min_length=1, max_length=32, pattern=_TCR_ID)


@dataclass(frozen=True, kw_only=True)
class ShareRef(_Record):
    """What the card holds, described without giving it away."""

    format: Literal["tcr-native", "opaque"]
    set_id: str | None = None
    index: int | None = None
    threshold: int | None = None
    count: int | None = None
    label: str | None = None
    digest: str
    """SHA-256 of exactly the bytes stored on the card (the compact share encoding)."""
    length: int

    def __post_init__(self) -> None:
        _choice("format", self.format, Literal["tcr-native", "opaque"])
        _text("set_id", self.set_id, pattern=_HEX_ID, optional=True)
        for name in ("index", "threshold", "count"):
            _number(name, getattr(self, name), 1, 255, optional=True)
        _text("label", self.label, optional=True)
        _text("digest", self.digest, pattern=_SHA256_HEX)
        _number("length", self.length, 1, 8192)
        if self.format == "tcr-native" and (self.set_id is None or self.index is None):
            raise _Invalid("", "a native share names its set id and index")


@dataclass(frozen=True, kw_only=True)
class KeyRef(_Record):
    """A key pair generated on the card; only the public half leaves it."""

    algorithm: Literal["ec-p256", "ed25519"]
    """``ec-p256``: ECDH or ECDSA over SHA-256 on P-256; ``ed25519``: RFC 8032 Ed25519."""
    public_key_der: str
    """SubjectPublicKeyInfo, DER, hex."""
    fingerprint: str
    """SHA-256 of the DER public key."""

    def __post_init__(self) -> None:
        _choice("algorithm", self.algorithm, Literal["ec-p256", "ed25519"])
        _text("public_key_der", self.public_key_der, pattern=_HEX)
        _text("fingerprint", self.fingerprint, pattern=_SHA256_HEX)

    def public_key_raw(self) -> bytes:
        """The raw public key: 32 bytes (Ed25519) or the 65-byte uncompressed point (P-256)."""
        der = bytes.fromhex(self.public_key_der)
        return der[-32:] if self.algorithm == "ed25519" else der[-65:]


@dataclass(frozen=True, kw_only=True)
class CardKeys(_Record):
    share_encryption: KeyRef
    signing: KeyRef

    _NESTED: ClassVar[dict[str, type[_Record]]] = {
        "share_encryption": KeyRef,
        "signing": KeyRef,
    }

    def __post_init__(self) -> None:
        _record("share_encryption", self.share_encryption, KeyRef)
        _record("signing", self.signing, KeyRef)


@dataclass(frozen=True, kw_only=True)
class CardIdentity(_Record):
    """How a card is recognised. ``serial`` is the token serial or the serial kept on the card."""

    backend: Backend
    serial: str
    label: str | None = None
    model: str | None = None
    manufacturer: str | None = None
    atr: str | None = None

    def __post_init__(self) -> None:
        _choice("backend", self.backend, Backend)
        _text("serial", self.serial, min_length=1, max_length=64)
        for name in ("label", "model", "manufacturer", "atr"):
            _text(name, getattr(self, name), optional=True)

    def describe(self) -> str:
        name = f" '{self.label}'" if self.label else ""
        return f"{self.backend} card{name} serial {self.serial}"


@dataclass(frozen=True, kw_only=True)
class CardMeta(_Record):
    """Public enrolment facts stored on the card itself (readable without the PIN)."""

    version: Literal[1] = 1
    enrolment_id: str
    tcr: TcrRef
    share: ShareRef
    enrolled_at: datetime
    keys: CardKeys | None = None

    _NESTED: ClassVar[dict[str, type[_Record]]] = {
        "tcr": TcrRef,
        "share": ShareRef,
        "keys": CardKeys,
    }
    _TIMES: ClassVar[tuple[str, ...]] = ("enrolled_at",)

    def __post_init__(self) -> None:
        _choice("version", self.version, Literal[1])
        _text("enrolment_id", self.enrolment_id, pattern=_ENROLMENT_ID)
        _record("tcr", self.tcr, TcrRef)
        _record("share", self.share, ShareRef)
        _utc("enrolled_at", self.enrolled_at)
        _record("keys", self.keys, CardKeys, optional=True)

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> CardMeta:
        """The facts a card holds; ``ValueError`` for anything that is not a valid record."""
        try:
            parsed = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise _Invalid("", f"not JSON: {exc}") from None
        return _parse(cls, parsed)


@dataclass(frozen=True, kw_only=True)
class EnrolmentRecord(_Record):
    """The record of one enrolment, as written to a JSON file (format version 1)."""

    format: Literal["tcr-kit.card-enrolment"] = RECORD_FORMAT
    version: Literal[1] = RECORD_VERSION
    profile: Literal["tcr-pkcs11-v1", "tcr-iso7816-v1"]
    enrolment_id: str
    card: CardIdentity
    tcr: TcrRef
    share: ShareRef
    keys: CardKeys | None = None
    enrolled_at: datetime

    _NESTED: ClassVar[dict[str, type[_Record]]] = {
        "card": CardIdentity,
        "tcr": TcrRef,
        "share": ShareRef,
        "keys": CardKeys,
    }
    _TIMES: ClassVar[tuple[str, ...]] = ("enrolled_at",)

    def __post_init__(self) -> None:
        _choice("format", self.format, Literal["tcr-kit.card-enrolment"])
        _choice("version", self.version, Literal[1])
        _choice("profile", self.profile, Literal["tcr-pkcs11-v1", "tcr-iso7816-v1"])
        _text("enrolment_id", self.enrolment_id, pattern=_ENROLMENT_ID)
        _record("card", self.card, CardIdentity)
        _record("tcr", self.tcr, TcrRef)
        _record("share", self.share, ShareRef)
        _record("keys", self.keys, CardKeys, optional=True)
        _utc("enrolled_at", self.enrolled_at)
        if self.card.backend == "pkcs11":
            if self.profile != "tcr-pkcs11-v1" or self.keys is None:
                raise _Invalid("", "a PKCS#11 enrolment uses profile tcr-pkcs11-v1 and has keys")
        else:
            if self.profile != "tcr-iso7816-v1" or self.keys is not None:
                raise _Invalid("", "a PC/SC enrolment uses profile tcr-iso7816-v1, without keys")
            if self.card.atr is None:
                raise _Invalid("", "a PC/SC enrolment records the card's ATR")

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
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, data: bytes | str) -> EnrolmentRecord:
        """A record from its JSON text; ``ValueError`` naming the first field that fails."""
        try:
            parsed = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise _Invalid("", f"not JSON: {exc}") from None
        return _parse(cls, parsed)


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
        return EnrolmentRecord.from_json(data)
    except _Invalid as exc:
        where = exc.loc or "record"
        raise InputError(f"{path}: not a valid enrolment record ({where}: {exc.msg})") from None
