from __future__ import annotations

from pathlib import Path

import pytest

from tcr_kit.audit.transcript import build_transcript, verify_transcript, write_transcript
from tcr_kit.custody import remote
from tcr_kit.custody.ledger import BlockedByDiscrepancy, DiscrepancyOpened
from tcr_kit.custody.lifecycle import BagState, CredentialState, TransitionRefused
from tcr_kit.custody.models import Location, LocationKind
from tcr_kit.errors import IntegrityError

from .conftest import FACILITY, KEYS, SAFE, World

INTACT = {"seal-intact": True, "no-cuts": True, "serial-unaltered": True}


def _remote_sealed_and_shipped(world: World, tmp_path: Path, serial: str = "TEB-1001") -> Path:
    att = remote.seal(KEYS["tcr"], holder="tcr-3", bag_serial=serial, contents=["CO3-KEY"])
    path = tmp_path / f"{serial}.att.json"
    remote.write(att, path)
    loaded = remote.load(path)
    world.ledger.record_remote_seal(world.ca, loaded)
    world.ledger.ship_bag(
        world.ca, serial, carrier="courier", tracking="TRK1", sender="tcr-3", recipient="east"
    )
    return path


def test_remote_seal_ship_receive_inspect_open_reseal_and_transcript_verifies(
    world: World, tmp_path: Path
) -> None:
    led = world.ledger
    att_path = _remote_sealed_and_shipped(world, tmp_path)
    bag = led.receive_bag(
        world.ca,
        "teb-1001",
        serial_read="TEB-1001",
        location=FACILITY,
        attestation=remote.load(att_path),
    )
    assert bag.state == BagState.RECEIVED
    with pytest.raises(TransitionRefused):
        led.open_bag(world.ca, "TEB-1001", serial_read="TEB-1001", witness="iw-1")
    led.inspect_bag(
        world.ca,
        "TEB-1001",
        serial_read="TEB-1001",
        checklist=INTACT,
        witness="iw-1",
        ceremony=55,
        step="12",
    )
    led.open_bag(world.ca, "TEB-1001", serial_read="TEB-1001", witness="iw-1")
    assert led.credential("CO3-KEY").state == CredentialState.ISSUED
    new = led.reseal_bag(world.ca, "TEB-1001", "TEB-2002", witness="iw-1", location=SAFE)
    assert new.replaces == "TEB-1001"
    assert led.bag("TEB-1001").replaced_by == "TEB-2002"
    assert led.credential("CO3-KEY").bag == "TEB-2002"
    kinds = [e["kind"] for e in led.history("bag:TEB-1001")]
    assert kinds == [
        "bag.remote-seal",
        "bag.ship",
        "bag.receive",
        "bag.inspect",
        "bag.open",
        "bag.reseal",
    ]
    led.verify()
    led.checkpoint(world.sa)
    out = tmp_path / "transcript.json"
    write_transcript(build_transcript(led.audit), out)
    result = verify_transcript(out)
    assert result.report.events == led.audit.count()
    assert result.report.checkpoints == 1


def test_mismatched_serial_on_inspection_opens_discrepancy_and_blocks_opening(
    world: World, tmp_path: Path
) -> None:
    led = world.ledger
    _remote_sealed_and_shipped(world, tmp_path)
    led.receive_bag(world.ca, "TEB-1001", serial_read="TEB-1001", location=FACILITY)
    with pytest.raises(DiscrepancyOpened) as info:
        led.inspect_bag(
            world.ca, "TEB-1001", serial_read="TEB-1007", checklist=INTACT, witness="iw-1"
        )
    (d,) = info.value.discrepancies
    assert d.category.value == "serial-mismatch"
    assert led.discrepancy(d.id).status == "open"
    with pytest.raises(BlockedByDiscrepancy, match=d.id):
        led.open_bag(world.ca, "TEB-1001", serial_read="TEB-1001", witness="iw-1")
    led.resolve_discrepancy(world.ca, d.id, "misread on camera; re-read by IW as TEB-1001")
    led.open_bag(world.ca, "TEB-1001", serial_read="TEB-1001", witness="iw-1")
    led.verify()


def test_tampered_bag_opens_discrepancy_and_only_an_explicit_witness_override_opens_it(
    world: World, tmp_path: Path
) -> None:
    led = world.ledger
    _remote_sealed_and_shipped(world, tmp_path)
    led.receive_bag(world.ca, "TEB-1001", serial_read="TEB-1001", location=FACILITY)
    with pytest.raises(DiscrepancyOpened) as info:
        led.inspect_bag(
            world.ca,
            "TEB-1001",
            serial_read="TEB-1001",
            checklist={"seal-intact": False, "no-cuts": True},
            witness="iw-1",
        )
    (d,) = info.value.discrepancies
    assert d.category.value == "tamper"
    with pytest.raises(BlockedByDiscrepancy):
        led.open_bag(world.ca, "TEB-1001", serial_read="TEB-1001", witness="iw-1")
    led.open_bag(world.ca, "TEB-1001", serial_read="TEB-1001", witness="iw-1", override_by="iw-1")
    assert led.discrepancy(d.id).overrides == ("iw-1",)
    assert led.discrepancy(d.id).status == "open"
    led.verify()


def test_receipt_with_wrong_serial_is_recorded_and_raises(world: World, tmp_path: Path) -> None:
    _remote_sealed_and_shipped(world, tmp_path)
    with pytest.raises(DiscrepancyOpened):
        world.ledger.receive_bag(world.ca, "TEB-1001", serial_read="TEB-1010", location=FACILITY)
    assert world.ledger.bag("TEB-1001").state == BagState.RECEIVED
    assert world.ledger.discrepancies(open_only=True, about="bag:TEB-1001")


def test_opening_with_misread_serial_is_refused_and_logged(world: World, tmp_path: Path) -> None:
    led = world.ledger
    _remote_sealed_and_shipped(world, tmp_path)
    led.receive_bag(world.ca, "TEB-1001", serial_read="TEB-1001", location=FACILITY)
    led.inspect_bag(world.ca, "TEB-1001", serial_read="TEB-1001", checklist=INTACT, witness="iw-1")
    with pytest.raises(DiscrepancyOpened):
        led.open_bag(world.ca, "TEB-1001", serial_read="TEB-1011", witness="iw-1")
    assert led.bag("TEB-1001").state == BagState.INSPECTED


def test_attestation_signed_by_unregistered_key_is_refused(world: World) -> None:
    from tcr_kit.audit.signing import SoftwareEd25519Signer

    impostor = SoftwareEd25519Signer.generate()
    att = remote.seal(impostor, holder="tcr-3", bag_serial="TEB-1001", contents=["CO3-KEY"])
    with pytest.raises(IntegrityError, match="other than the expected"):
        world.ledger.record_remote_seal(world.ca, att)


def test_edited_attestation_fails_verification(world: World, tmp_path: Path) -> None:
    att = remote.seal(KEYS["tcr"], holder="tcr-3", bag_serial="TEB-1001", contents=["CO3-KEY"])
    data = att.to_bytes().replace(b"TEB-1001", b"TEB-1002")
    with pytest.raises(IntegrityError):
        remote.parse(data).verify()


def test_sealing_on_site_needs_a_witness_other_than_the_actor(world: World) -> None:
    from tcr_kit.custody.lifecycle import WitnessRequired

    with pytest.raises(WitnessRequired):
        world.ledger.seal_bag(world.ca, "TEB-3003", ["CO3-KEY"], witness="ca-1", location=SAFE)
    bag = world.ledger.seal_bag(world.ca, "TEB-3003", ["CO3-KEY"], witness="iw-1", location=SAFE)
    assert bag.state == BagState.SEALED


def test_dry_run_changes_nothing(world: World) -> None:
    before = world.ledger.audit.count()
    world.ledger.seal_bag(
        world.ca, "TEB-3003", ["CO3-KEY"], witness="iw-1", location=SAFE, dry_run=True
    )
    assert world.ledger.audit.count() == before
    assert not world.ledger.bags()
    assert world.ledger.last_events


def test_lost_bag_marks_its_credentials_lost_and_is_terminal(world: World) -> None:
    from tcr_kit.custody.lifecycle import BagAction

    world.ledger.seal_bag(world.ca, "TEB-3003", ["CO3-KEY"], witness="iw-1", location=SAFE)
    world.ledger.bag_action(world.ca, "TEB-3003", BagAction.LOSE)
    assert world.ledger.credential("CO3-KEY").state == CredentialState.LOST
    with pytest.raises(TransitionRefused):
        world.ledger.store_bag(
            world.ca, "TEB-3003", location=Location(kind=LocationKind.FACILITY, facility="east")
        )


def test_status_shows_a_tcr_where_their_credential_is(world: World, tmp_path: Path) -> None:
    _remote_sealed_and_shipped(world, tmp_path)
    view = world.ledger.status("tcr-3")
    (item,) = view.credentials
    assert item.bag == "TEB-1001"
    assert item.bag_state == "in-transit"
    assert item.location is not None
    assert item.location.startswith("in transit (shipment S-0001)")
    assert view.to_json()["credentials"][0]["bag"] == "TEB-1001"


def test_replaced_key_revokes_the_old_one_and_the_new_one_signs(world: World) -> None:
    from tcr_kit.audit.signing import SoftwareEd25519Signer
    from tcr_kit.custody.ledger import Actor
    from tcr_kit.errors import InputError

    card_like = SoftwareEd25519Signer.generate()
    world.ledger.replace_key(world.sa, "ca-1", card_like.public_key_bytes())
    with pytest.raises(InputError, match="not the one registered"):
        world.ledger.seal_bag(world.ca, "TEB-3003", ["CO3-KEY"], witness="iw-1", location=SAFE)
    world.ledger.seal_bag(
        Actor("ca-1", card_like), "TEB-3003", ["CO3-KEY"], witness="iw-1", location=SAFE
    )
    report = world.ledger.verify()
    assert sum(1 for k in report.keys.values() if k.revoked_seq is not None) == 1


def test_dry_run_of_a_mismatched_inspection_says_so_and_records_nothing(
    world: World, tmp_path: Path
) -> None:
    _remote_sealed_and_shipped(world, tmp_path)
    world.ledger.receive_bag(world.ca, "TEB-1001", serial_read="TEB-1001", location=FACILITY)
    with pytest.raises(DiscrepancyOpened, match="dry run, nothing recorded"):
        world.ledger.inspect_bag(
            world.ca,
            "TEB-1001",
            serial_read="TEB-1999",
            checklist=INTACT,
            witness="iw-1",
            dry_run=True,
        )
    assert world.ledger.discrepancies() == []
    assert world.ledger.bag("TEB-1001").state == BagState.RECEIVED
