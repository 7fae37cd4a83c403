"""Custody of TCR credentials: who holds what, in which bag, where, and what happened.

State lives in an embedded SQLite ledger (:mod:`tcr_kit.custody.ledger`); every change is
written together with its signed audit event (:mod:`tcr_kit.audit`) in one transaction.

The names in ``__all__`` are the public API (importable from here or from their modules).
They are imported on first use (PEP 562), so importing one custody module
(``tcr_kit.custody.status`` for ``tcr status``, ``tcr_kit.custody.history``) does not
import the ledger facade, its mixins and their pydantic models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tcr_kit._lazy import lazy_names

if TYPE_CHECKING:
    from tcr_kit.custody.artifacts import (
        Artifact,
        ArtifactFile,
        ArtifactFilesDiffer,
        FileCheck,
        Release,
        ReleaseRefused,
        Tranche,
        TranscriptArtifact,
        artifact_from_transcript,
        check_files,
        parse_tranche,
    )
    from tcr_kit.custody.errors import (
        BlockedByDiscrepancy,
        ChecklistItemInvalid,
        DiscrepancyOpened,
        LedgerIntegrityError,
        NotFound,
        TransitionRefused,
        WitnessRequired,
    )
    from tcr_kit.custody.ledger import (
        Actor,
        BagView,
        DiscrepancyCount,
        EventSelection,
        EventSummary,
        Ledger,
        ReleaseOutcome,
        TrancheStatus,
        enrolment_sha256,
        normalise_serial,
    )
    from tcr_kit.custody.ledger_file import default_ledger_path
    from tcr_kit.custody.lifecycle import BagAction, BagState, CredentialAction, CredentialState
    from tcr_kit.custody.models import (
        Attendance,
        Bag,
        Ceremony,
        Credential,
        CredentialKind,
        Discrepancy,
        DiscrepancyCategory,
        Inspection,
        Location,
        LocationKind,
        Person,
        Role,
        SealAttestation,
        Severity,
        ShareSet,
        Shipment,
        build,
    )
    from tcr_kit.custody.policy import Policy, PolicyInvalid, default_policy, parse_policy
    from tcr_kit.custody.remote import SignedAttestation
    from tcr_kit.custody.share_manifests import (
        ExtendResult,
        ShareCheck,
        check_share_alone,
        extend_set,
        sign_manifest,
        verify_manifest,
    )
    from tcr_kit.custody.status import (
        CredentialStatus,
        InspectionBrief,
        OwnView,
        PersonStatus,
        read_own_view,
    )

_HOME: dict[str, tuple[str, ...]] = {
    "tcr_kit.custody.artifacts": (
        "Artifact",
        "ArtifactFile",
        "ArtifactFilesDiffer",
        "FileCheck",
        "Release",
        "ReleaseRefused",
        "Tranche",
        "TranscriptArtifact",
        "artifact_from_transcript",
        "check_files",
        "parse_tranche",
    ),
    "tcr_kit.custody.errors": (
        "BlockedByDiscrepancy",
        "ChecklistItemInvalid",
        "DiscrepancyOpened",
        "LedgerIntegrityError",
        "NotFound",
        "TransitionRefused",
        "WitnessRequired",
    ),
    "tcr_kit.custody.ledger": (
        "Actor",
        "BagView",
        "DiscrepancyCount",
        "EventSelection",
        "EventSummary",
        "Ledger",
        "ReleaseOutcome",
        "TrancheStatus",
        "enrolment_sha256",
        "normalise_serial",
    ),
    "tcr_kit.custody.ledger_file": ("default_ledger_path",),
    "tcr_kit.custody.status": (
        "CredentialStatus",
        "InspectionBrief",
        "OwnView",
        "PersonStatus",
        "read_own_view",
    ),
    "tcr_kit.custody.lifecycle": (
        "BagAction",
        "BagState",
        "CredentialAction",
        "CredentialState",
    ),
    "tcr_kit.custody.models": (
        "Attendance",
        "Bag",
        "Ceremony",
        "Credential",
        "CredentialKind",
        "Discrepancy",
        "DiscrepancyCategory",
        "Inspection",
        "Location",
        "LocationKind",
        "Person",
        "Role",
        "SealAttestation",
        "Severity",
        "ShareSet",
        "Shipment",
        "build",
    ),
    "tcr_kit.custody.policy": (
        "Policy",
        "PolicyInvalid",
        "default_policy",
        "parse_policy",
    ),
    "tcr_kit.custody.remote": ("SignedAttestation",),
    "tcr_kit.custody.share_manifests": (
        "ExtendResult",
        "ShareCheck",
        "check_share_alone",
        "extend_set",
        "sign_manifest",
        "verify_manifest",
    ),
}
"""The module that defines each public name (imported on the first access to it)."""

_MODULE_OF = {name: module for module, names in _HOME.items() for name in names}

__all__ = [
    "Actor",
    "Artifact",
    "ArtifactFile",
    "ArtifactFilesDiffer",
    "Attendance",
    "Bag",
    "BagAction",
    "BagState",
    "BagView",
    "BlockedByDiscrepancy",
    "Ceremony",
    "ChecklistItemInvalid",
    "Credential",
    "CredentialAction",
    "CredentialKind",
    "CredentialState",
    "CredentialStatus",
    "Discrepancy",
    "DiscrepancyCategory",
    "DiscrepancyCount",
    "DiscrepancyOpened",
    "EventSelection",
    "EventSummary",
    "ExtendResult",
    "FileCheck",
    "Inspection",
    "InspectionBrief",
    "Ledger",
    "LedgerIntegrityError",
    "Location",
    "LocationKind",
    "NotFound",
    "OwnView",
    "Person",
    "PersonStatus",
    "Policy",
    "PolicyInvalid",
    "Release",
    "ReleaseOutcome",
    "ReleaseRefused",
    "Role",
    "SealAttestation",
    "Severity",
    "ShareCheck",
    "ShareSet",
    "Shipment",
    "SignedAttestation",
    "Tranche",
    "TrancheStatus",
    "TranscriptArtifact",
    "TransitionRefused",
    "WitnessRequired",
    "artifact_from_transcript",
    "build",
    "check_files",
    "check_share_alone",
    "default_ledger_path",
    "default_policy",
    "enrolment_sha256",
    "extend_set",
    "normalise_serial",
    "parse_policy",
    "parse_tranche",
    "read_own_view",
    "sign_manifest",
    "verify_manifest",
]


if not TYPE_CHECKING:  # type checkers see the imports above, and nothing else
    __getattr__, __dir__ = lazy_names(__name__, _MODULE_OF, __all__)
