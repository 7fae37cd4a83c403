from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from tcr_kit.custody.lifecycle import (
    BAG_RULES,
    BagAction,
    BagState,
    CredentialAction,
    CredentialState,
    TransitionRefused,
    WitnessRequired,
    bag_transition,
)
from tcr_kit.custody.models import (
    Ceremony,
    Credential,
    CredentialKind,
    Location,
    LocationKind,
    Person,
    Role,
    ShareSet,
)
from tcr_kit.errors import InputError

from .conftest import SAFE, World


def test_share_set_threshold_cannot_exceed_count() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        ShareSet(id="hsm-pin-1", m=5, n=3, purpose="HSM PIN", epoch=0)


def test_records_are_strict_frozen_and_forbid_unknown_fields() -> None:
    with pytest.raises(ValueError):
        ShareSet(id="s", m="3", n=5, purpose="p", epoch=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Person.model_validate({"id": "x", "name": "X", "roles": ["CA"], "shoe_size": 9})
    s = ShareSet(id="s", m=3, n=5, purpose="p", epoch=0)
    with pytest.raises(ValueError):
        s.m = 4  # type: ignore[misc]


def test_a_tcr_cannot_hold_a_staff_role_and_a_co_needs_a_facility() -> None:
    with pytest.raises(ValueError, match="staff"):
        Person(id="x", name="X", roles=(Role.CO, Role.IW), facility="east")
    with pytest.raises(ValueError, match="facility"):
        Person(id="x", name="X", roles=(Role.CO,))


def test_location_fields_must_fit_its_kind() -> None:
    with pytest.raises(ValueError, match="needs safe"):
        Location(kind=LocationKind.SAFE, facility="east")
    with pytest.raises(ValueError, match="needs person"):
        Location(kind=LocationKind.WITH_PERSON)


def test_every_illegal_bag_transition_is_refused() -> None:
    for state in BagState:
        for action in BagAction:
            rule = BAG_RULES[action]
            if state in rule.sources:
                continue
            with pytest.raises(TransitionRefused, match=state.value):
                bag_transition("TEB-1", state, action, "ca-1", "iw-1")


def test_witnessed_bag_actions_refuse_a_missing_or_self_witness() -> None:
    with pytest.raises(WitnessRequired):
        bag_transition("TEB-1", BagState.INSPECTED, BagAction.OPEN, "ca-1", None)
    with pytest.raises(WitnessRequired):
        bag_transition("TEB-1", BagState.INSPECTED, BagAction.OPEN, "ca-1", "ca-1")


def test_enrolment_record_is_stored_with_its_hash(world: World) -> None:
    record = json.dumps({"card_serial": "0A1B2C", "share_set": "hsm-pin-1", "index": 3})
    cred = world.ledger.record_enrolment(world.ca, "CO3-KEY", record)
    assert cred.enrolment_sha256 == hashlib.sha256(record.encode()).hexdigest()
    with pytest.raises(InputError, match="not JSON"):
        world.ledger.record_enrolment(world.ca, "CO3-KEY", "{nope")
    world.ledger.verify()


def test_credential_share_index_must_fit_its_share_set(world: World) -> None:
    world.ledger.add_share_set(world.ca, ShareSet(id="pin", m=3, n=7, purpose="p", epoch=1))
    with pytest.raises(InputError, match="> n=7"):
        world.ledger.add_credential(
            world.ca,
            Credential(
                id="C8", kind=CredentialKind.SMARTCARD, serial="S8", share_set="pin", share_index=8
            ),
        )


def test_person_holding_a_live_credential_cannot_be_retired(world: World) -> None:
    with pytest.raises(InputError, match="still holds"):
        world.ledger.retire_person(world.sa, "tcr-3")
    world.ledger.credential_action(world.ca, "CO3-KEY", CredentialAction.RETIRE)
    world.ledger.retire_person(world.sa, "tcr-3")
    assert world.ledger.person("tcr-3").retired


def test_destroying_a_retired_credential_needs_a_witness(world: World) -> None:
    world.ledger.credential_action(world.ca, "CO3-KEY", CredentialAction.RETIRE)
    with pytest.raises(WitnessRequired):
        world.ledger.credential_action(world.ca, "CO3-KEY", CredentialAction.DESTROY)
    cred = world.ledger.credential_action(
        world.ca, "CO3-KEY", CredentialAction.DESTROY, witness="iw-1"
    )
    assert cred.state == CredentialState.DESTROYED


def test_opened_bag_is_destroyed_only_with_a_witness(world: World) -> None:
    led = world.ledger
    led.seal_bag(world.ca, "TEB-5", ["CO3-KEY"], witness="iw-1", location=SAFE)
    led.inspect_bag(world.ca, "TEB-5", serial_read="TEB-5", checklist={"ok": True}, witness="iw-1")
    led.open_bag(world.ca, "TEB-5", serial_read="TEB-5", witness="iw-1")
    with pytest.raises(WitnessRequired):
        led.bag_action(world.ca, "TEB-5", BagAction.DESTROY)
    assert led.bag_action(world.ca, "TEB-5", BagAction.DESTROY, witness="iw-1").state == (
        BagState.DESTROYED
    )
    led.verify()


def test_a_bag_serial_is_used_once(world: World) -> None:
    world.ledger.seal_bag(world.ca, "TEB-5", ["CO3-KEY"], witness="iw-1", location=SAFE)
    world.ledger.add_credential(
        world.ca, Credential(id="C2", kind=CredentialKind.IKEY, serial="IK-2")
    )
    with pytest.raises(InputError, match="used once"):
        world.ledger.seal_bag(world.ca, "teb-5 ", ["C2"], witness="iw-1", location=SAFE)


def test_ceremony_record_is_stored_and_audited(world: World) -> None:
    world.ledger.add_ceremony(
        world.ca,
        Ceremony(
            number=55,
            facility="east",
            date=datetime(2026, 11, 28, tzinfo=UTC),
            participants=("ca-1", "iw-1"),
            steps=("1 open safe", "2 inspect bags"),
        ),
    )
    assert world.ledger.ceremony(55).participants == ("ca-1", "iw-1")
    assert world.ledger.history("ceremony:55")[0]["kind"] == "ceremony.add"
    world.ledger.verify()
