"""Hash-chained, signed audit events; checkpoints; transcripts; PGP-word fingerprints.

This package knows nothing of ledgers, cards or HSMs: it stores opaque event payloads
(JSON objects) in a SQLite table given to it, chains them with SHA-256 and signs them with
the acting person's key. ``tcr_kit.custody`` is its user.

The names in ``__all__`` are the public API (importable from here or from their modules).

Names are resolved on first use (PEP 562), so importing one submodule, such as
``tcr_kit.audit.pgpwords`` for the start-up of ``tcr shares inspect``, does not import the
log, the verifier and their dependencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tcr_kit._lazy import lazy_names

if TYPE_CHECKING:
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
    from tcr_kit.audit.cosign import (
        Cosignature,
        CosignatureRefused,
        SigningRequest,
        WitnessSignature,
        WitnessSigner,
        verify_cosignatures,
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
    from tcr_kit.audit.statements import check_statements
    from tcr_kit.audit.transcript import (
        TranscriptResult,
        build_transcript,
        verify_transcript,
        write_transcript,
    )
    from tcr_kit.audit.verify import verify_log

_EXPORTS = {
    "Cosignature": "tcr_kit.audit.cosign",
    "CosignatureRefused": "tcr_kit.audit.cosign",
    "SigningRequest": "tcr_kit.audit.cosign",
    "WitnessSignature": "tcr_kit.audit.cosign",
    "WitnessSigner": "tcr_kit.audit.cosign",
    "verify_cosignatures": "tcr_kit.audit.cosign",
    "AuditIntegrityError": "tcr_kit.audit.chain",
    "AuditLog": "tcr_kit.audit.chain",
    "ECDSA_P256": "tcr_kit.audit.signing",
    "ED25519": "tcr_kit.audit.signing",
    "KeyRecord": "tcr_kit.audit.chain",
    "SignatureInvalid": "tcr_kit.audit.signing",
    "Signer": "tcr_kit.audit.signing",
    "SoftwareEd25519Signer": "tcr_kit.audit.signing",
    "StoredCheckpoint": "tcr_kit.audit.chain",
    "StoredEvent": "tcr_kit.audit.chain",
    "TranscriptResult": "tcr_kit.audit.transcript",
    "VerifyReport": "tcr_kit.audit.chain",
    "build_transcript": "tcr_kit.audit.transcript",
    "canonical_bytes": "tcr_kit.audit.canonical",
    "check_statements": "tcr_kit.audit.statements",
    "digest_words": "tcr_kit.audit.pgpwords",
    "ensure_schema": "tcr_kit.audit.chain",
    "fingerprint": "tcr_kit.audit.pgpwords",
    "key_id": "tcr_kit.audit.signing",
    "parse_canonical": "tcr_kit.audit.canonical",
    "pgp_words": "tcr_kit.audit.pgpwords",
    "verify_log": "tcr_kit.audit.verify",
    "verify_signature": "tcr_kit.audit.signing",
    "verify_transcript": "tcr_kit.audit.transcript",
    "words_to_bytes": "tcr_kit.audit.pgpwords",
    "write_transcript": "tcr_kit.audit.transcript",
}


__all__ = [
    "ECDSA_P256",
    "ED25519",
    "AuditIntegrityError",
    "AuditLog",
    "Cosignature",
    "CosignatureRefused",
    "KeyRecord",
    "SignatureInvalid",
    "Signer",
    "SigningRequest",
    "SoftwareEd25519Signer",
    "StoredCheckpoint",
    "StoredEvent",
    "TranscriptResult",
    "VerifyReport",
    "WitnessSignature",
    "WitnessSigner",
    "build_transcript",
    "canonical_bytes",
    "check_statements",
    "digest_words",
    "ensure_schema",
    "fingerprint",
    "key_id",
    "parse_canonical",
    "pgp_words",
    "verify_cosignatures",
    "verify_log",
    "verify_signature",
    "verify_transcript",
    "words_to_bytes",
    "write_transcript",
]


if not TYPE_CHECKING:  # type checkers see the imports above, and nothing else
    __getattr__, __dir__ = lazy_names(__name__, _EXPORTS, __all__)
