"""The ledger's tables and their migrations, and where the ledger file lives by default.

Each table holds one record type as canonical JSON (``doc``) under its key, plus a few
columns copied from the record for foreign keys. The audit log's tables live in the same
file (created by :func:`tcr_kit.audit.chain.ensure_schema`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel

from tcr_kit.audit import chain as audit_chain
from tcr_kit.custody.artifacts import Artifact, Release
from tcr_kit.custody.ledger_file import LEDGER_ENV, SCHEMA_VERSION, default_ledger_path
from tcr_kit.custody.models import (
    Bag,
    Ceremony,
    Credential,
    Discrepancy,
    Inspection,
    Person,
    ShareSet,
    Shipment,
)

__all__ = [
    "ATTESTATION",
    "LEDGER_ENV",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TABLES",
    "Table",
    "default_ledger_path",
    "table_of",
]


@dataclass(frozen=True)
class Table:
    name: str
    key: str
    model: type[BaseModel]
    columns: Mapping[str, str] = field(default_factory=dict)
    """Extra SQL column -> record field (copied for foreign keys)."""
    since: int = 1
    """The schema version that added the table (an older ledger opened read-only lacks it)."""


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table("person", "id", Person),
        Table("share_set", "id", ShareSet),
        Table("credential", "id", Credential, {"holder": "holder"}),
        Table("bag", "serial", Bag, {"holder": "holder"}),
        Table("shipment", "id", Shipment, {"bag": "bag"}),
        Table("inspection", "id", Inspection, {"bag": "bag"}),
        Table("discrepancy", "id", Discrepancy),
        Table("ceremony", "number", Ceremony),
        Table("artifact", "name", Artifact, {"drive": "drive"}, since=2),
        Table("artifact_release", "key", Release, {"artifact": "artifact"}, since=2),
    )
}
ATTESTATION = "attestation"

_V1 = """
CREATE TABLE person (key TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE share_set (key TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE credential (key TEXT PRIMARY KEY, doc BLOB NOT NULL,
    holder TEXT REFERENCES person(key));
CREATE TABLE bag (key TEXT PRIMARY KEY, doc BLOB NOT NULL,
    holder TEXT REFERENCES person(key));
CREATE TABLE shipment (key TEXT PRIMARY KEY, doc BLOB NOT NULL,
    bag TEXT NOT NULL REFERENCES bag(key));
CREATE TABLE inspection (key TEXT PRIMARY KEY, doc BLOB NOT NULL,
    bag TEXT NOT NULL REFERENCES bag(key));
CREATE TABLE discrepancy (key TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE ceremony (key TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE attestation (key TEXT PRIMARY KEY, doc BLOB NOT NULL,
    bag TEXT NOT NULL REFERENCES bag(key));
"""


def _migrate_v1(conn: sqlite3.Connection) -> None:
    for statement in _V1.split(";"):
        if statement.strip():
            conn.execute(statement)
    audit_chain.ensure_schema(conn)


_ARTIFACTS = """
CREATE TABLE IF NOT EXISTS artifact (key TEXT PRIMARY KEY, doc BLOB NOT NULL,
    drive TEXT NOT NULL REFERENCES credential(key));
CREATE TABLE IF NOT EXISTS artifact_release (key TEXT PRIMARY KEY, doc BLOB NOT NULL,
    artifact TEXT NOT NULL REFERENCES artifact(key));
"""


def _migrate_artifacts(conn: sqlite3.Connection) -> None:
    """Pre-signed artifacts and their tranche releases (docs/artifacts.md)."""
    for statement in _ARTIFACTS.split(";"):
        if statement.strip():
            conn.execute(statement)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migrate_v1, _migrate_artifacts]
"""Migration ``i`` takes the schema from version ``i`` to ``i + 1`` (``PRAGMA user_version``)."""


def table_of(model: type[BaseModel]) -> Table:
    for table in TABLES.values():
        if table.model is model:
            return table
    raise TypeError(f"no table for {model.__name__}")
