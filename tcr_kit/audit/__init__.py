"""Hash-chained, signed audit events; checkpoints; transcripts; PGP-word fingerprints.

This package knows nothing of ledgers, cards or HSMs: it stores opaque event payloads
(JSON objects) in a SQLite table given to it, chains them with SHA-256 and signs them with
the acting person's key. ``tcr_kit.custody`` is its user.

The names in ``__all__`` are the public API (importable from here or from their modules).
"""

from __future__ import annotations

from tcr_kit.audit.canonical import canonical_bytes, parse_canonical
from tcr_kit.audit.chain import (
    AuditIntegrityError,
    AuditLog,
    KeyRecord,
    StoredCheckpoint,
    StoredEvent,
    VerifyReport,
    ensure_schema,
)
from tcr_kit.audit.pgpwords import digest_words, fingerprint, pgp_words, words_to_bytes
from tcr_kit.audit.signing import (
    ECDSA_P256,
    ED25519,
    SignatureInvalid,
    Signer,
    SoftwareEd25519Signer,
    key_id,
    verify_signature,
)
from tcr_kit.audit.transcript import (
    TranscriptResult,
    build_transcript,
    verify_transcript,
    write_transcript,
)
from tcr_kit.audit.verify import verify_log

__all__ = [
    "ECDSA_P256",
    "ED25519",
    "AuditIntegrityError",
    "AuditLog",
    "KeyRecord",
    "SignatureInvalid",
    "Signer",
    "SoftwareEd25519Signer",
    "StoredCheckpoint",
    "StoredEvent",
    "TranscriptResult",
    "VerifyReport",
    "build_transcript",
    "canonical_bytes",
    "digest_words",
    "ensure_schema",
    "fingerprint",
    "key_id",
    "parse_canonical",
    "pgp_words",
    "verify_log",
    "verify_signature",
    "verify_transcript",
    "words_to_bytes",
    "write_transcript",
]
