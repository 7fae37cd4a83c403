"""Custody of TCR credentials: who holds what, in which bag, where, and what happened.

State lives in an embedded SQLite ledger (:mod:`tcr_kit.custody.ledger`); every change is
written together with its signed audit event (:mod:`tcr_kit.audit`) in one transaction.

The names in ``__all__`` are the public API (importable from here or from their modules).
"""

from __future__ import annotations

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
    CredentialStatus,
    DiscrepancyCount,
    EventSelection,
    EventSummary,
    InspectionBrief,
    Ledger,
    PersonStatus,
    default_ledger_path,
    enrolment_sha256,
    normalise_serial,
)
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

__all__ = [
    "Actor",
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
    "Inspection",
    "InspectionBrief",
    "Ledger",
    "LedgerIntegrityError",
    "Location",
    "LocationKind",
    "NotFound",
    "Person",
    "PersonStatus",
    "Policy",
    "PolicyInvalid",
    "Role",
    "SealAttestation",
    "Severity",
    "ShareCheck",
    "ShareSet",
    "Shipment",
    "SignedAttestation",
    "TransitionRefused",
    "WitnessRequired",
    "build",
    "check_share_alone",
    "default_ledger_path",
    "default_policy",
    "enrolment_sha256",
    "extend_set",
    "normalise_serial",
    "parse_policy",
    "sign_manifest",
    "verify_manifest",
]
