"""The custody ledger: an embedded SQLite database (WAL, foreign keys, versioned schema).

Every change goes through one ``BEGIN IMMEDIATE`` transaction that writes the new rows **and**
the audit event that carries them (the full post-change records), so :meth:`Ledger.verify`
can check both the hash chain and that every row is exactly what the last event about it
says.

:class:`Ledger` is one facade over modules of one concept each:

* :mod:`~tcr_kit.custody.ledger.schema` tables, migrations, the default path;
* :mod:`~tcr_kit.custody.ledger.storage` opening, transactions, the one write path;
* :mod:`~tcr_kit.custody.ledger.reading` typed look-ups and a subject's history;
* :mod:`~tcr_kit.custody.ledger.roster` people and their keys;
* :mod:`~tcr_kit.custody.ledger.credentials` credentials and share sets;
* :mod:`~tcr_kit.custody.ledger.manifests` signed share-set manifests and extensions;
* :mod:`~tcr_kit.custody.ledger.bags`, :mod:`~tcr_kit.custody.ledger.shipments`,
  :mod:`~tcr_kit.custody.ledger.inspections` bags and their journeys;
* :mod:`~tcr_kit.custody.ledger.discrepancies` discrepancies and ceremonies;
* :mod:`~tcr_kit.custody.ledger.ceremonies` opening, stepping through and closing one;
* :mod:`~tcr_kit.custody.ledger.integrity` checkpoints and verification;
* :mod:`~tcr_kit.custody.ledger.views` status and summaries as typed dataclasses;
* :mod:`~tcr_kit.custody.ledger.selection` which events a ceremony's transcript holds;
* :mod:`~tcr_kit.custody.ledger.artifacts` pre-signed artifacts and their tranche releases.

The errors are in :mod:`tcr_kit.custody.errors` (and importable from here as before).
"""

from __future__ import annotations

from tcr_kit.custody.errors import (
    BlockedByDiscrepancy,
    DiscrepancyOpened,
    LedgerIntegrityError,
    NotFound,
    sqlite_error,
)
from tcr_kit.custody.ledger.artifacts import ArtifactsMixin, ReleaseOutcome, TrancheStatus
from tcr_kit.custody.ledger.ceremonies import CeremoniesMixin, CeremonyClosed
from tcr_kit.custody.ledger.credentials import CredentialsMixin, enrolment_sha256
from tcr_kit.custody.ledger.inspections import InspectionsMixin
from tcr_kit.custody.ledger.integrity import IntegrityMixin
from tcr_kit.custody.ledger.manifests import ManifestsMixin
from tcr_kit.custody.ledger.reading import normalise_serial
from tcr_kit.custody.ledger.roster import RosterMixin
from tcr_kit.custody.ledger.schema import (
    LEDGER_ENV,
    MIGRATIONS,
    SCHEMA_VERSION,
    TABLES,
    default_ledger_path,
)
from tcr_kit.custody.ledger.selection import EventSelection
from tcr_kit.custody.ledger.shipments import ShipmentsMixin
from tcr_kit.custody.ledger.storage import Actor
from tcr_kit.custody.ledger.views import (
    BagView,
    CredentialStatus,
    DiscrepancyCount,
    EventSummary,
    InspectionBrief,
    PersonStatus,
    ViewsMixin,
)

__all__ = [
    "LEDGER_ENV",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TABLES",
    "Actor",
    "BagView",
    "BlockedByDiscrepancy",
    "CeremonyClosed",
    "CredentialStatus",
    "DiscrepancyCount",
    "DiscrepancyOpened",
    "EventSelection",
    "EventSummary",
    "InspectionBrief",
    "Ledger",
    "LedgerIntegrityError",
    "NotFound",
    "PersonStatus",
    "ReleaseOutcome",
    "TrancheStatus",
    "default_ledger_path",
    "enrolment_sha256",
    "normalise_serial",
    "sqlite_error",
]


class Ledger(
    RosterMixin,
    CredentialsMixin,
    ShipmentsMixin,
    InspectionsMixin,
    IntegrityMixin,
    ViewsMixin,
    CeremoniesMixin,
    ManifestsMixin,
    ArtifactsMixin,
):
    """An open ledger. Use :meth:`open`; close with :meth:`close` or ``with``."""
