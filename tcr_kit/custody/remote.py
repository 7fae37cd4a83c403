"""Seal attestations: what a TCR at home signs when putting a credential in a bag.

File format (JSON, one object): the fields of :class:`~tcr_kit.custody.models.SealAttestation`
plus ``"signature"`` (hex). The signed message is
``SHA-256(b"tcr-kit/seal-attestation/v1\\n" || canonical JSON of the fields without
"signature")``; that digest is also the attestation's fingerprint, read aloud as hex and PGP
words so staff can confirm on the call that the file they later receive is the one made.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

from pydantic import ValidationError

from tcr_kit.audit.canonical import canonical_bytes
from tcr_kit.audit.pgpwords import digest_words
from tcr_kit.audit.signing import Signer, verify_signature
from tcr_kit.audit.statements import SEAL_ATTESTATION_DOMAIN, seal_attestation_digest
from tcr_kit.clock import utcnow
from tcr_kit.custody.models import KeyAlgorithm, SealAttestation
from tcr_kit.errors import InputError, IntegrityError, OperationalError
from tcr_kit.fileio import write_new_file

DOMAIN = SEAL_ATTESTATION_DOMAIN


@dataclass(frozen=True)
class SignedAttestation:
    attestation: SealAttestation
    signature: bytes

    @property
    def body(self) -> bytes:
        return canonical_bytes(self.attestation.model_dump(mode="json"))

    @property
    def digest(self) -> bytes:
        """What the holder signs (the audit verifier rebuilds it with the same function)."""
        return seal_attestation_digest(self.attestation.model_dump(mode="json"))

    @property
    def fingerprint(self) -> tuple[str, str]:
        """``(hex, PGP words)`` of the signed digest, for reading aloud."""
        return digest_words(self.digest)

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = dict(self.attestation.model_dump(mode="json"))
        doc["signature"] = self.signature.hex()
        return doc

    def to_bytes(self) -> bytes:
        return canonical_bytes(self.to_json()) + b"\n"

    def verify(self, expected_public_key: bytes | None = None) -> None:
        """Raise unless the signature verifies (and the key is the expected one)."""
        pub = bytes.fromhex(self.attestation.public_key)
        if expected_public_key is not None and pub != expected_public_key:
            raise IntegrityError(
                f"attestation for bag {self.attestation.bag_serial} is signed by a key other "
                f"than the expected (registered) key of {self.attestation.holder}"
            )
        verify_signature(self.attestation.algorithm, pub, self.digest, self.signature)


def seal(
    signer: Signer,
    *,
    holder: str,
    bag_serial: str,
    contents: list[str],
    bag_kind: str = "TEB",
    photo_sha256: list[str] | None = None,
    note: str | None = None,
    sealed_at: datetime | None = None,
) -> SignedAttestation:
    """Make and sign a seal attestation with ``signer`` (a software key or a card)."""
    try:
        att = SealAttestation(
            bag_serial=bag_serial.strip().upper(),
            bag_kind=bag_kind,
            contents=tuple(contents),
            holder=holder,
            sealed_at=sealed_at or utcnow(),
            photo_sha256=tuple(p.lower() for p in (photo_sha256 or [])),
            note=note,
            algorithm=cast(KeyAlgorithm, signer.algorithm),
            public_key=signer.public_key_bytes().hex(),
        )
    except ValidationError as exc:
        raise InputError(f"seal attestation: {_first_error(exc)}") from None
    unsigned = SignedAttestation(att, b"")
    signed = SignedAttestation(att, signer.sign(unsigned.digest))
    signed.verify()
    return signed


def write(signed: SignedAttestation, path: str | os.PathLike[str], *, force: bool = False) -> None:
    """Write the attestation to a new file (``force`` replaces an existing one)."""
    write_new_file(path, signed.to_bytes(), mode=0o644, force=force)


def parse(data: bytes, source: str = "attestation") -> SignedAttestation:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InputError(f"{source}: not JSON (or nested too deeply)") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("signature"), str):
        raise InputError(f"{source}: not a signed seal attestation")
    sig_hex = doc.pop("signature")
    try:
        signature = bytes.fromhex(sig_hex)
        att = SealAttestation.model_validate_json(json.dumps(doc))
    except ValueError as exc:
        detail = _first_error(exc) if isinstance(exc, ValidationError) else "bad signature hex"
        raise InputError(f"{source}: {detail}") from None
    return SignedAttestation(att, signature)


def load(path: str | os.PathLike[str]) -> SignedAttestation:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise OperationalError(f"{path}: cannot read: {exc.strerror}") from None
    return parse(data, str(path))


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    return f"{where}: {err.get('msg')}" if where else str(err.get("msg"))
