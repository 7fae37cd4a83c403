"""The declared public API of tcr_kit.audit and tcr_kit.custody, and the ledger's old names."""

from __future__ import annotations

import importlib

import pytest

# Every name importable from tcr_kit.custody.ledger before it became a package.
LEDGER_NAMES = [
    "LEDGER_ENV",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TABLES",
    "Actor",
    "BlockedByDiscrepancy",
    "DiscrepancyOpened",
    "Ledger",
    "LedgerIntegrityError",
    "NotFound",
    "default_ledger_path",
    "normalise_serial",
    "sqlite_error",
]


@pytest.mark.parametrize("package", ["tcr_kit.audit", "tcr_kit.custody", "tcr_kit.custody.ledger"])
def test_every_declared_name_is_importable_from_its_package(package: str) -> None:
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []
    assert sorted(set(module.__all__)) == sorted(module.__all__)


def test_the_ledgers_names_from_before_the_split_still_import() -> None:
    ledger = importlib.import_module("tcr_kit.custody.ledger")
    assert [name for name in LEDGER_NAMES if not hasattr(ledger, name)] == []


def test_custody_errors_are_one_set_of_classes_wherever_imported() -> None:
    from tcr_kit.custody import NotFound, WitnessRequired
    from tcr_kit.custody.errors import NotFound as ErrorsNotFound
    from tcr_kit.custody.ledger import NotFound as LedgerNotFound
    from tcr_kit.custody.lifecycle import WitnessRequired as LifecycleWitnessRequired

    assert NotFound is ErrorsNotFound is LedgerNotFound
    assert WitnessRequired is LifecycleWitnessRequired


def test_schema_version_is_the_number_of_migrations() -> None:
    from tcr_kit.custody.ledger import MIGRATIONS, SCHEMA_VERSION

    assert len(MIGRATIONS) == SCHEMA_VERSION
