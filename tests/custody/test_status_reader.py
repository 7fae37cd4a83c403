"""``tcr status`` reads the ledger file without the facade and without pydantic: the same
answer as :meth:`Ledger.status`, nothing written, and every row it uses still checked."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tcr_kit.audit.timeline import entries_of
from tcr_kit.custody import read_own_view
from tcr_kit.custody.errors import DiscrepancyOpened, LedgerIntegrityError, NotFound
from tcr_kit.custody.history import person_history
from tcr_kit.custody.models import DiscrepancyCategory, Location, LocationKind, Severity
from tcr_kit.custody.wording import describe_location, inspection_outcome
from tcr_kit.errors import OperationalError

from .conftest import SAFE, World


def _busy_world(world: World) -> None:
    led = world.ledger
    led.seal_bag(world.ca, "TEB-1", ["CO3-KEY"], witness="iw-1", location=SAFE)
    led.inspect_bag(
        world.ca, "TEB-1", serial_read="TEB-1", checklist={"seal": True}, witness="iw-1"
    )
    with pytest.raises(DiscrepancyOpened):  # recorded, with its discrepancy D-0001
        led.inspect_bag(
            world.ca, "TEB-1", serial_read="TEB-1", checklist={"seal": False}, witness="iw-1"
        )
    led.add_discrepancy(
        world.iw,
        category=DiscrepancyCategory.PROCEDURE,
        severity=Severity.LOW,
        description="late",
        objects=["bag:TEB-1"],
    )


def test_the_file_reading_gives_the_ledgers_own_status_history_and_head(world: World) -> None:
    _busy_world(world)
    own = read_own_view(world.path, "tcr-3")
    assert own.status == world.ledger.status("tcr-3")
    (item,) = own.status.credentials
    assert item.location == "safe credential-safe box 7 at east"
    assert item.last_inspection is not None
    assert item.last_inspection.outcome == "tamper-evidence"
    assert item.last_inspection.at.endswith("Z")
    assert item.open_discrepancies == ("D-0001", "D-0002")
    assert (own.head_seq, own.head) == world.ledger.audit.head()
    assert own.history == person_history(entries_of(world.ledger.audit.events()), "tcr-3")
    assert len(own.history.history) >= 5


def test_reading_the_status_writes_nothing_to_the_ledger_file(world: World) -> None:
    _busy_world(world)
    world.ledger.close()
    before = world.path.read_bytes()
    read_own_view(world.path, "tcr-3")
    assert world.path.read_bytes() == before
    wal = world.path.with_name(world.path.name + "-wal")  # SQLite's read-only WAL index
    assert not wal.exists() or wal.stat().st_size == 0


def test_an_unknown_person_missing_file_and_empty_file_are_refused(
    world: World, tmp_path: Path
) -> None:
    with pytest.raises(NotFound, match="person nobody is not in the ledger"):
        read_own_view(world.path, "nobody")
    with pytest.raises(OperationalError, match="no ledger here"):
        read_own_view(tmp_path / "absent.sqlite", "tcr-3")
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    with pytest.raises(LedgerIntegrityError, match="empty file"):
        read_own_view(empty, "tcr-3")
    assert empty.read_bytes() == b""


def _edit(path: Path, sql: str, *args: object) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sql, args)
    conn.close()


@pytest.mark.parametrize(
    ("table", "key", "doc", "complaint"),
    [
        ("credential", "CO3-KEY", b'{"holder": "tcr-3"}', "canonical form"),
        ("person", "tcr-3", b'{"id":"tcr-3","schema_version":2}', "schema version"),
        (
            "credential",
            "CO3-KEY",
            b'{"holder":"tcr-3","id":"CO3-KEY","kind":7,"schema_version":1,'
            b'"serial":"S","state":"issued"}',
            "field kind",
        ),
        (
            "inspection",
            "I-0002",
            b'{"at":"2026-01-01T00:00:00","bag":"TEB-1","checklist":{"seal":false},'
            b'"id":"I-0002","schema_version":1,"serial_expected":"TEB-1","serial_read":"TEB-1"}',
            "field at",
        ),
        (
            "discrepancy",
            "D-0001",
            b'{"id":"D-0001","objects":"bag:TEB-1","schema_version":1,"status":"open"}',
            "field objects",
        ),
    ],
)
def test_a_row_edited_behind_the_tools_back_is_an_integrity_failure(
    world: World, table: str, key: str, doc: bytes, complaint: str
) -> None:
    _busy_world(world)
    world.ledger.close()
    _edit(world.path, f"UPDATE {table} SET doc = ? WHERE key = ?", doc, key)  # noqa: S608
    with pytest.raises(LedgerIntegrityError, match=f"ledger row {table}/{key}.*{complaint}"):
        read_own_view(world.path, "tcr-3")


def test_a_newer_schema_is_refused_before_any_row_is_read(world: World) -> None:
    world.ledger.close()
    _edit(world.path, "PRAGMA user_version = 99")
    with pytest.raises(OperationalError, match="schema 99 is newer"):
        read_own_view(world.path, "tcr-3")


def test_locations_and_outcomes_are_worded_once_for_records_and_rows() -> None:
    for location in [
        Location(kind=LocationKind.FACILITY, facility="east"),
        Location(kind=LocationKind.SAFE, facility="east", safe="s", box="7"),
        Location(kind=LocationKind.SAFE_DEPOSIT_BOX, box="9"),
        Location(kind=LocationKind.WITH_PERSON, person="tcr-3", facility="west"),
        Location(kind=LocationKind.IN_TRANSIT, shipment="S-0001"),
    ]:
        parts = location.model_dump(mode="json", exclude={"schema_version"})
        assert describe_location(**parts) == location.describe()
    assert describe_location("with-person", person="tcr-3") == "with tcr-3"
    assert describe_location("safe-deposit-box", box="9", facility="w") == "box 9 at w"
    assert inspection_outcome("A", "B", {"seal": True}) == "serial-mismatch"
    assert inspection_outcome("A", "A", {"seal": True, "tape": False}) == "tamper-evidence"
    assert inspection_outcome("A", "A", {"seal": True}) == "intact"


def test_the_status_module_is_usable_without_pydantic() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nimport tcr_kit.custody.status, tcr_kit.custody\n"
        "tcr_kit.custody.read_own_view\n"
        "assert 'pydantic' not in sys.modules, 'pydantic'\n"
        "assert 'tcr_kit.custody.ledger' not in sys.modules, 'ledger'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
