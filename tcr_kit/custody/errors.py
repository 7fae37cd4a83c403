"""The errors of the custody ledger (each below one of the families in :mod:`tcr_kit.errors`).

The lifecycle's refusals (:class:`~tcr_kit.custody.lifecycle.TransitionRefused`,
:class:`~tcr_kit.custody.lifecycle.WitnessRequired`) are re-exported here too, so a caller
finds every custody error in one module.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tcr_kit.custody.lifecycle import TransitionRefused, WitnessRequired
from tcr_kit.errors import InputError, IntegrityError, OperationalError

if TYPE_CHECKING:
    from tcr_kit.custody.models import Discrepancy

__all__ = [
    "BlockedByDiscrepancy",
    "ChecklistItemInvalid",
    "DiscrepancyOpened",
    "LedgerIntegrityError",
    "NotFound",
    "TransitionRefused",
    "WitnessRequired",
    "sqlite_error",
]


class NotFound(InputError):
    """No such person, credential, bag, ... in the ledger (exit 2)."""


class DiscrepancyOpened(IntegrityError):
    """The action was recorded (or refused) and opened discrepancies (exit 3)."""

    def __init__(self, message: str, discrepancies: Sequence[Discrepancy]) -> None:
        super().__init__(message)
        self.discrepancies = list(discrepancies)


class BlockedByDiscrepancy(IntegrityError):
    """Opening is blocked while a discrepancy on the bag is open (exit 3)."""


class ChecklistItemInvalid(InputError):
    """An inspection checklist item not written ``NAME=ok`` or ``NAME=fail`` (exit 2)."""

    def __init__(self, item: str) -> None:
        super().__init__(f"checklist item {item!r}: expected NAME=ok or NAME=fail")
        self.item = item


class LedgerIntegrityError(IntegrityError):
    """A ledger row differs from what the audit log says it should be (exit 3)."""


def sqlite_error(path: Path, exc: sqlite3.Error) -> OperationalError | IntegrityError:
    """The tcr-kit error for an SQLite failure: locked/busy/IO is operational (exit 1),
    a damaged file is an integrity failure (exit 3)."""
    if isinstance(exc, sqlite3.OperationalError):
        return OperationalError(f"{path}: ledger: {exc}")
    return LedgerIntegrityError(f"{path}: ledger damaged: {exc}")
