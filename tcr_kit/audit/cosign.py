"""Co-signatures: the people an event names as vouching for it (a witness, an overrider)
sign the same event hash as its actor, so the log proves they agreed, not only that the
actor named them.

An event that is co-signed **declares** its co-signers in its signed body, as the payload
field ``cosigners``: a list of ``{"key_id": ..., "person": ...}``. Each co-signature is
the co-signer's signature, with the algorithm their key was registered with, over the 32
raw bytes of the event's hash (``hash_n``, exactly what the actor signs). Because the
declaration is inside the actor's signature, a stripped co-signature is detected; because
the co-signature is over ``hash_n``, it cannot be moved to another event.

Co-signatures are stored beside the event (table ``audit_cosignature``: ``seq``,
``person``, ``key_id``, ``signature`` hex) and in transcripts (each event's optional
``cosignatures`` list). :func:`verify_cosignatures` is the check; ``docs/audit-format.md``
("Co-signatures") is the contract for an independent verifier.

A co-signer signs in the same command as the actor in one of three ways:

* :class:`WitnessSigner`: their key (a software key or a card) is at hand;
* :class:`WitnessSignature`: they signed a :class:`SigningRequest` elsewhere
  (``tcr witness sign``); the event must come out byte for byte as the one they signed;
* :class:`PendingCosigner`: nobody signs yet, to prepare the signing request of a dry run.
"""

from __future__ import annotations

import hmac
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcr_kit.audit.canonical import parse_canonical
from tcr_kit.audit.chain import AuditIntegrityError, KeyRecord, StoredEvent, event_hash
from tcr_kit.audit.signing import Signer, key_id, signature_ok
from tcr_kit.errors import InputError, IntegrityError, OperationalError

if TYPE_CHECKING:
    from tcr_kit.audit.chain import AuditLog

__all__ = [
    "COSIGNERS_FIELD",
    "Cosignature",
    "CosignatureRefused",
    "PendingCosigner",
    "SigningRequest",
    "WitnessSignature",
    "WitnessSigner",
    "verify_cosignatures",
]

COSIGNERS_FIELD = "cosigners"
"""Payload field of a co-signed event: ``[{"key_id": ..., "person": ...}, ...]``."""
REQUEST_FORMAT = "tcr-kit/cosign-request"
SIGNATURE_FORMAT = "tcr-kit/cosignature"
FILE_VERSION = 1

COSIGN_TABLE = """
CREATE TABLE IF NOT EXISTS audit_cosignature (
    seq       INTEGER NOT NULL,
    person    TEXT    NOT NULL,
    key_id    TEXT    NOT NULL,
    signature TEXT    NOT NULL,
    PRIMARY KEY (seq, person)
)
"""
"""Created by the first co-signed event (ledgers written before co-signatures lack it)."""


class CosignatureRefused(IntegrityError):
    """A co-signature that is not the named person's over this very event (exit 3)."""


@dataclass(frozen=True)
class Cosignature:
    """One stored co-signature: ``signature`` (hex) by ``person``'s key ``key_id`` over the
    hash of event ``seq``."""

    seq: int
    person: str
    key_id: str
    signature: str

    def to_json(self) -> dict[str, str]:
        return {"key_id": self.key_id, "person": self.person, "signature": self.signature}


@dataclass(frozen=True)
class WitnessSigner:
    """A co-signer whose key (software or card) signs in this process."""

    person: str
    signer: Signer

    @property
    def key_id(self) -> str:
        return key_id(self.signer.public_key_bytes())


@dataclass(frozen=True)
class PendingCosigner:
    """A co-signer who will sign later: declared in the event, no signature (dry runs only)."""

    person: str
    key_id: str


@dataclass(frozen=True)
class SigningRequest:
    """What a remote co-signer is asked to sign: the exact event body and its hash."""

    person: str
    key_id: str
    body: bytes

    @property
    def hash(self) -> bytes:
        return event_hash(self.body)

    def event(self) -> dict[str, Any]:
        parsed = parse_canonical(self.body)
        if not isinstance(parsed, dict):
            raise InputError("signing request: the event body is not a JSON object")
        return parsed

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REQUEST_FORMAT,
            "version": FILE_VERSION,
            "person": self.person,
            "key_id": self.key_id,
            "body": self.body.decode("ascii"),
            "hash": self.hash.hex(),
        }

    @classmethod
    def from_json(cls, doc: object, source: str = "signing request") -> SigningRequest:
        fields = _file_fields(doc, REQUEST_FORMAT, {"person", "key_id", "body", "hash"}, source)
        request = cls(fields["person"], fields["key_id"], fields["body"].encode("ascii"))
        _check_body(request.body, fields["hash"], request.person, request.key_id, source)
        return request

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SigningRequest:
        return cls.from_json(_read_json(path), str(path))

    def sign(self, signer: Signer) -> WitnessSignature:
        """The co-signature of this request by ``signer`` (whose key must be the one the
        request names: the key the roster knows for the person)."""
        if key_id(signer.public_key_bytes()) != self.key_id:
            raise CosignatureRefused(
                f"the key given ({key_id(signer.public_key_bytes())}) is not the key "
                f"{self.key_id} the ledger knows for {self.person}"
            )
        return WitnessSignature(self.person, self.key_id, self.body, signer.sign(self.hash))


@dataclass(frozen=True)
class WitnessSignature:
    """A co-signature made elsewhere (``tcr witness sign``) over the exact event ``body``."""

    person: str
    key_id: str
    body: bytes
    signature: bytes

    @property
    def hash(self) -> bytes:
        return event_hash(self.body)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SIGNATURE_FORMAT,
            "version": FILE_VERSION,
            "person": self.person,
            "key_id": self.key_id,
            "body": self.body.decode("ascii"),
            "hash": self.hash.hex(),
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, doc: object, source: str = "witness signature") -> WitnessSignature:
        names = {"person", "key_id", "body", "hash", "signature"}
        fields = _file_fields(doc, SIGNATURE_FORMAT, names, source)
        body = fields["body"].encode("ascii")
        _check_body(body, fields["hash"], fields["person"], fields["key_id"], source)
        try:
            signature = bytes.fromhex(fields["signature"])
        except ValueError:
            raise InputError(f"{source}: signature is not hex") from None
        return cls(fields["person"], fields["key_id"], body, signature)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> WitnessSignature:
        return cls.from_json(_read_json(path), str(path))

    def time(self) -> str:
        """The event time the signature fixes (the re-run records the event at it)."""
        return str(parse_canonical(self.body)["time"])


Cosigner = WitnessSigner | WitnessSignature | PendingCosigner


def _read_json(path: str | os.PathLike[str]) -> object:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise OperationalError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise InputError(f"{path}: not JSON") from None


def _file_fields(doc: object, fmt: str, names: set[str], source: str) -> dict[str, str]:
    if not isinstance(doc, dict) or doc.get("format") != fmt or doc.get("version") != 1:
        raise InputError(f"{source}: not a {fmt} file (version 1)")
    if set(doc) != {*names, "format", "version"}:
        odd = sorted(set(doc) ^ {*names, "format", "version"})[0]
        raise InputError(f"{source}: field {odd!r} missing or not allowed")
    if not all(isinstance(doc[n], str) for n in names):
        raise InputError(f"{source}: {', '.join(sorted(names))} must be strings")
    try:
        for n in names:
            doc[n].encode("ascii")
    except UnicodeEncodeError:
        raise InputError(f"{source}: fields must be ASCII") from None
    return {n: doc[n] for n in names}


def _check_body(body: bytes, stated_hash: str, person: str, kid: str, source: str) -> None:
    """The body is a canonical event whose hash is the stated one and which declares
    ``person`` with key ``kid`` as a co-signer."""
    try:
        event = parse_canonical(body)
    except ValueError as exc:
        raise InputError(f"{source}: the event body is not canonical JSON: {exc}") from None
    if not hmac.compare_digest(event_hash(body).hex(), stated_hash.lower()):
        raise IntegrityError(f"{source}: the stated hash is not the hash of the event body")
    payload = event.get("payload") if isinstance(event, dict) else None
    declared = payload.get(COSIGNERS_FIELD) if isinstance(payload, dict) else None
    if not isinstance(declared, list) or {"key_id": kid, "person": person} not in declared:
        raise InputError(f"{source}: the event does not ask {person} (key {kid}) to co-sign")


# -- writing (called by AuditLog.append) ---------------------------------------------------
def _key_of_cosigner(log: AuditLog, cosigner: Cosigner) -> KeyRecord:
    """The registered, unrevoked key of the co-signer; refused (exit 3) otherwise."""
    key = log.key_of(cosigner.key_id)
    if key is None or key.owner != cosigner.person:
        raise CosignatureRefused(
            f"co-signature of {cosigner.person}: key {cosigner.key_id} is not the key the "
            f"log knows for {cosigner.person}"
        )
    if key.revoked_seq is not None:
        raise CosignatureRefused(
            f"co-signature of {cosigner.person}: key {cosigner.key_id} was revoked at event "
            f"{key.revoked_seq}"
        )
    return key


def declare(
    log: AuditLog,
    cosigners: Sequence[Cosigner],
    payload: dict[str, Any],
    time: datetime | None,
) -> tuple[dict[str, Any], datetime | None]:
    """The payload with its ``cosigners`` declaration, and the event time (fixed by a
    signature made in advance)."""
    if COSIGNERS_FIELD in payload:
        raise ValueError(f"{COSIGNERS_FIELD!r} is reserved for co-signed events")
    people = [c.person for c in cosigners]
    if len(set(people)) != len(people):
        raise InputError(f"a co-signer is named twice: {', '.join(people)}")
    for c in cosigners:
        _key_of_cosigner(log, c)
    times = {c.time() for c in cosigners if isinstance(c, WitnessSignature)}
    if len(times) > 1:
        raise CosignatureRefused("the witness signatures given are over different events")
    if times:
        time = datetime.fromisoformat(times.pop().replace("Z", "+00:00"))
    declared = [{"key_id": c.key_id, "person": c.person} for c in cosigners]
    return {**payload, COSIGNERS_FIELD: declared}, time


def collect(
    log: AuditLog, cosigners: Sequence[Cosigner], seq: int, body: bytes, digest: bytes
) -> list[Cosignature]:
    """Each co-signer's signature over ``digest`` (the hash of ``body``, event ``seq``): made
    now by a :class:`WitnessSigner`, or checked for a :class:`WitnessSignature` (which must
    be over exactly ``body``). Pending co-signers give none."""
    out: list[Cosignature] = []
    for c in cosigners:
        if isinstance(c, PendingCosigner):
            continue
        key = _key_of_cosigner(log, c)
        if isinstance(c, WitnessSigner):
            signature = c.signer.sign(digest)
        else:
            if not hmac.compare_digest(c.body, body):
                raise CosignatureRefused(_mismatch(c, seq, body))
            signature = c.signature
        if not signature_ok(key.algorithm, key.public_key, digest, signature):
            raise CosignatureRefused(
                f"co-signature of {c.person} does not verify under key {key.key_id} "
                "(not their signature of this event)"
            )
        out.append(Cosignature(seq, c.person, c.key_id, signature.hex()))
    return out


def _mismatch(c: WitnessSignature, seq: int, body: bytes) -> str:
    signed = parse_canonical(c.body)
    now = parse_canonical(body)
    if signed.get("seq") != seq or signed.get("prev") != now.get("prev"):
        return (
            f"the signature of {c.person} is over event {signed.get('seq')} as prepared "
            f"earlier, but the log has moved on (this would be event {seq}): make a new "
            "signing request"
        )
    differs = sorted(k for k in set(signed) | set(now) if signed.get(k) != now.get(k))
    return (
        f"the signature of {c.person} is over another event (differs in "
        f"{', '.join(differs)}): run the command exactly as for the signing request"
    )


# -- storage -------------------------------------------------------------------------------
def store_cosignatures(conn: sqlite3.Connection, cosignatures: Sequence[Cosignature]) -> None:
    """Insert co-signatures (creating their table the first time), inside the caller's
    transaction."""
    if not cosignatures:
        return
    conn.execute(COSIGN_TABLE)
    conn.executemany(
        "INSERT INTO audit_cosignature (seq, person, key_id, signature) VALUES (?, ?, ?, ?)",
        [(c.seq, c.person, c.key_id, c.signature) for c in cosignatures],
    )


def stored_cosignatures(conn: sqlite3.Connection) -> dict[int, list[Cosignature]]:
    """Every stored co-signature by event number (empty for a ledger that has none)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_cosignature'"
    ).fetchone()
    out: dict[int, list[Cosignature]] = {}
    if exists is None:
        return out
    for seq, person, kid, sig in conn.execute(
        "SELECT seq, person, key_id, signature FROM audit_cosignature ORDER BY seq, person"
    ):
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise AuditIntegrityError(0, f"co-signature row with seq {seq!r} (edited?)")
        out.setdefault(seq, []).append(Cosignature(seq, str(person), str(kid), str(sig)))
    return out


# -- verification --------------------------------------------------------------------------
def declared_cosigners(body: dict[str, Any]) -> list[tuple[str, str]] | None:
    """``(person, key_id)`` pairs an event body declares, ``None`` if it declares none;
    ``ValueError`` if the declaration is malformed."""
    payload = body.get("payload")
    if not isinstance(payload, dict) or COSIGNERS_FIELD not in payload:
        return None
    declared = payload[COSIGNERS_FIELD]
    if not isinstance(declared, list) or not declared:
        raise ValueError("cosigners is not a non-empty list")
    out: list[tuple[str, str]] = []
    for item in declared:
        if (
            not isinstance(item, dict)
            or set(item) != {"key_id", "person"}
            or not isinstance(item["key_id"], str)
            or not isinstance(item["person"], str)
        ):
            raise ValueError("a cosigner is not {key_id, person}")
        out.append((item["person"], item["key_id"]))
    if len({p for p, _ in out}) != len(out):
        raise ValueError("a person is declared twice as cosigner")
    return out


def verify_cosignatures(
    events: Iterable[StoredEvent],
    cosignatures: Mapping[int, Sequence[Cosignature]],
    keys: Mapping[str, KeyRecord],
) -> int:
    """Check every co-signature of a log whose chain and signatures were already verified
    (``keys``: the registrations that verification established). Returns how many were
    checked; raises :class:`AuditIntegrityError` naming the first event with a co-signature
    missing (stripped), not declared (added), by a key that is not the co-signer's at that
    event, or that does not verify (altered or forged)."""
    checked = 0
    remaining = {seq for seq, sigs in cosignatures.items() if sigs}
    for event in events:
        stored = list(cosignatures.get(event.seq, ()))
        if not stored and b'"cosigners":' not in event.body:
            continue
        remaining.discard(event.seq)
        checked += _check_event(event, stored, keys)
    if remaining:
        seq = min(remaining)
        raise AuditIntegrityError(seq, "co-signature stored for an event that is not in the log")
    return checked


def _check_event(
    event: StoredEvent, stored: Sequence[Cosignature], keys: Mapping[str, KeyRecord]
) -> int:
    seq = event.seq
    body = parse_canonical(event.body)
    try:
        declared = declared_cosigners(body) if isinstance(body, dict) else None
    except ValueError as exc:
        raise AuditIntegrityError(seq, f"malformed co-signer declaration: {exc}") from None
    declared = declared or []
    by_person = {c.person: c for c in stored}
    if len(by_person) != len(stored):
        raise AuditIntegrityError(seq, "two co-signatures by one person")
    for person in sorted(set(by_person) - {p for p, _ in declared}):
        raise AuditIntegrityError(
            seq, f"co-signature by {person} is not declared by the event (added?)"
        )
    digest = event_hash(event.body)
    for person, kid in declared:
        found = by_person.get(person)
        if found is None:
            raise AuditIntegrityError(seq, f"co-signature of {person} is missing (stripped?)")
        key = keys.get(kid)
        if found.key_id != kid or key is None or key.owner != person:
            raise AuditIntegrityError(
                seq, f"co-signature of {person} is not by {person}'s registered key"
            )
        if key.added_seq >= seq or (key.revoked_seq is not None and key.revoked_seq <= seq):
            raise AuditIntegrityError(
                seq, f"co-signature of {person} by key {kid}, not valid at this event"
            )
        try:
            signature = bytes.fromhex(found.signature)
        except ValueError:
            raise AuditIntegrityError(seq, f"co-signature of {person} is not hex") from None
        if not signature_ok(key.algorithm, key.public_key, digest, signature):
            raise AuditIntegrityError(
                seq, f"co-signature of {person} does not verify (altered or forged)"
            )
    return len(declared)
