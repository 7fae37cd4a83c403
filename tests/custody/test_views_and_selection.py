"""The ledger's typed views, transcript selection and the helpers the CLI calls."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tcr_kit.custody.errors import ChecklistItemInvalid
from tcr_kit.custody.ledger import (
    DiscrepancyCount,
    EventSelection,
    PersonStatus,
    enrolment_sha256,
)
from tcr_kit.custody.ledger.inspections import parse_checklist
from tcr_kit.custody.models import DiscrepancyCategory, Location, LocationKind, Severity
from tcr_kit.errors import InputError

from .conftest import SAFE, World

REPO = Path(__file__).resolve().parents[2]


def test_status_of_a_person_without_bags_lists_their_loose_credential(world: World) -> None:
    view = world.ledger.status("tcr-3")
    assert isinstance(view, PersonStatus)
    assert view.to_json() == {
        "person": "tcr-3",
        "name": "TCR-3",
        "roles": ["CO"],
        "credentials": [
            {
                "credential": "CO3-KEY",
                "kind": "safe-deposit-key",
                "serial": "BOX7-KEY-A",
                "state": "issued",
                "bag": None,
                "bag_state": None,
                "location": None,
                "last_inspection": None,
                "open_discrepancies": [],
            }
        ],
    }


def test_status_names_the_last_inspection_and_open_discrepancies(world: World) -> None:
    led = world.ledger
    led.seal_bag(world.ca, "TEB-1", ["CO3-KEY"], witness="iw-1", location=SAFE)
    led.inspect_bag(
        world.ca, "TEB-1", serial_read="TEB-1", checklist={"seal": True}, witness="iw-1"
    )
    d = led.add_discrepancy(
        world.iw,
        category=DiscrepancyCategory.PROCEDURE,
        severity=Severity.LOW,
        description="late",
        objects=["bag:TEB-1"],
    )
    (item,) = led.status("tcr-3").credentials
    assert item.bag == "TEB-1"
    assert item.last_inspection is not None
    assert item.last_inspection.outcome == "intact"
    assert item.open_discrepancies == (d.id,)


def test_discrepancy_summary_counts_by_year_category_severity_and_status(world: World) -> None:
    for _ in range(2):
        world.ledger.add_discrepancy(
            world.iw,
            category=DiscrepancyCategory.TIME,
            severity=Severity.LOW,
            description="late start",
        )
    (row,) = world.ledger.discrepancy_summary()
    assert isinstance(row, DiscrepancyCount)
    assert row.to_json() == {
        "year": datetime.now(UTC).year,
        "category": "time",
        "severity": "low",
        "status": "open",
        "count": 2,
    }


def test_bag_view_carries_the_bag_its_inspections_and_open_discrepancies(world: World) -> None:
    led = world.ledger
    led.seal_bag(world.ca, "teb-2", ["CO3-KEY"], witness="iw-1", location=SAFE)
    view = led.bag_view("teb-2")
    assert view.bag.serial == "TEB-2"
    data = view.to_json()
    assert data["serial"] == "TEB-2"
    assert data["inspections"] == []
    assert data["open_discrepancies"] == []


def test_last_change_summarises_the_events_just_written(world: World) -> None:
    led = world.ledger
    led.seal_bag(world.ca, "TEB-3", ["CO3-KEY"], witness="iw-1", location=SAFE)
    (event,) = led.last_change()
    assert event.kind == "bag.seal"
    assert event.seq == led.audit.head()[0]
    assert event.to_json() == {"seq": event.seq, "kind": "bag.seal", "hash": event.hash}


def _body(time: str, subjects: list[str], records: list[object] | None = None) -> dict[str, object]:
    return {"time": time, "subjects": subjects, "payload": {"records": records or []}}


def test_ceremony_selection_takes_events_naming_it_as_subject_or_in_a_record() -> None:
    select = EventSelection(ceremony=55)
    assert select(_body("2026-01-01T00:00:00Z", ["ceremony:55"]))
    assert select(_body("2026-01-01T00:00:00Z", [], [{"doc": {"ceremony": 55}}]))
    assert not select(_body("2026-01-01T00:00:00Z", ["ceremony:56"], [{"doc": {}}]))
    assert select.description == "ceremony 55"


def test_time_window_includes_its_start_and_excludes_its_end() -> None:
    select = EventSelection.parse(since="2026-01-01", until="2026-01-02T00:00:00Z")
    assert select(_body("2026-01-01T00:00:00Z", []))
    assert not select(_body("2026-01-02T00:00:00Z", []))
    assert not select(_body("2025-12-31T23:59:59Z", []))
    assert select.description == "from 2026-01-01 until 2026-01-02T00:00:00Z"


def test_selection_without_criteria_is_the_whole_log() -> None:
    assert EventSelection().description == "whole log"
    assert EventSelection()(_body("2026-01-01T00:00:00Z", []))


def test_malformed_time_is_an_input_error() -> None:
    with pytest.raises(InputError, match="is not ISO 8601"):
        EventSelection.parse(since="yesterday")


def test_enrolment_hash_is_sha256_of_the_record_text(world: World) -> None:
    record = '{"card": "é"}'
    assert enrolment_sha256(record) == hashlib.sha256(record.encode("utf-8")).hexdigest()
    cred = world.ledger.record_enrolment(world.ca, "CO3-KEY", record)
    assert cred.enrolment_sha256 == enrolment_sha256(record)


def test_checklist_items_parse_and_a_malformed_one_is_named() -> None:
    assert parse_checklist(["seal=OK", " tape =fail"]) == {"seal": True, "tape": False}
    with pytest.raises(ChecklistItemInvalid) as info:
        parse_checklist(["seal=ok", "tape"])
    assert info.value.item == "tape"


def test_location_from_parts_prefers_person_then_safe_then_box_then_facility() -> None:
    assert Location.where() is None
    assert Location.where(facility="east", person="tcr-3") == Location(
        kind=LocationKind.WITH_PERSON, person="tcr-3", facility="east"
    )
    safe = Location.where(facility="east", safe="s1", box="7")
    assert safe is not None and safe.kind == LocationKind.SAFE
    box = Location.where(box="7")
    assert box is not None and box.kind == LocationKind.SAFE_DEPOSIT_BOX
    assert Location.where(facility="west") == Location(kind=LocationKind.FACILITY, facility="west")
    with pytest.raises(InputError):
        Location.where(safe="s1")


def test_custody_reads_the_audit_log_only_through_its_methods() -> None:
    offenders = []
    for path in sorted((REPO / "tcr_kit" / "custody").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for needle in ("audit._conn", "FROM audit_", "INTO audit_", "UPDATE audit_"):
            if needle in text:
                offenders.append(f"{path.relative_to(REPO)}: {needle}")
    assert offenders == []


def test_registered_key_is_the_persons_public_key_or_none(world: World) -> None:
    from tcr_kit.custody.models import Person, Role

    assert world.ledger.registered_key("tcr-3") == world.tcr.signer.public_key_bytes()
    world.ledger.add_person(world.sa, Person.new("iw-2", "IW 2", ["IW"]))
    assert world.ledger.registered_key("iw-2") is None
    assert world.ledger.person("iw-2").roles == (Role.IW,)


def test_person_from_roster_fields_lowercases_the_key_and_refuses_unknown_roles() -> None:
    from tcr_kit.audit.signing import SoftwareEd25519Signer
    from tcr_kit.custody.models import Person

    key = SoftwareEd25519Signer.generate().public_key_bytes().hex().upper()
    person = Person.new("tcr-9", "T 9", ["RKSH"], public_key=key)
    assert person.public_key == key.lower()
    assert person.key_algorithm == "ed25519"
    with pytest.raises(InputError, match="person"):
        Person.new("x", "X", ["KING"])


def test_shipping_a_remotely_sealed_bag_records_the_seal_then_the_shipment(
    world: World,
) -> None:
    from tcr_kit.custody import remote

    from .conftest import KEYS

    signed = remote.seal(KEYS["tcr"], holder="tcr-3", bag_serial="teb-7", contents=["CO3-KEY"])
    route = {"carrier": "courier", "tracking": "T1", "sender": "tcr-3", "recipient": "east"}
    before = world.ledger.audit.count()
    assert world.ledger.ship_remotely_sealed(world.ca, signed, **route, dry_run=True) is None
    # One transaction: the dry run tries the seal and the shipment, and records neither.
    assert [e.kind for e in world.ledger.last_change()] == ["bag.remote-seal", "bag.ship"]
    assert world.ledger.audit.count() == before
    shipment = world.ledger.ship_remotely_sealed(world.ca, signed, **route)
    assert shipment is not None and shipment.bag == "TEB-7"
    assert [e.kind for e in world.ledger.last_change()] == ["bag.remote-seal", "bag.ship"]
    assert world.ledger.audit.count() == before + 2
