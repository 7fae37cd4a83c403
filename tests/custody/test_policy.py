"""The custody policy: one test per rule, the refusals the issue describes, and rows edited
behind the tool's back refusing a change before anything is written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tcr_kit.audit.cosign import WitnessSigner
from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.custody import remote
from tcr_kit.custody.errors import LedgerIntegrityError
from tcr_kit.custody.ledger import Actor
from tcr_kit.custody.models import (
    Credential,
    CredentialKind,
    DiscrepancyCategory,
    Role,
    Severity,
)
from tcr_kit.custody.policy import ACTIONS, RULES, PolicyInvalid, default_policy_text
from tcr_kit.errors import ExitCode, IntegrityError, NotPermitted

from .conftest import FACILITY, KEYS, SAFE, World, _person

EXTRA_KEYS = {name: SoftwareEd25519Signer.generate() for name in ("iw2", "tcr4", "ssc", "ca2")}


@pytest.fixture
def crew(world: World) -> World:
    """The world plus a second IW, a second CA, an SSC and a second TCR with a card."""
    led, sa = world.ledger, world.sa
    led.add_person(sa, _person("iw-2", (Role.IW,), EXTRA_KEYS["iw2"]))
    led.add_person(sa, _person("ca-2", (Role.CA,), EXTRA_KEYS["ca2"]))
    led.add_person(sa, _person("ssc-1", (Role.SSC,), EXTRA_KEYS["ssc"]))
    led.add_person(sa, _person("tcr-4", (Role.CO,), EXTRA_KEYS["tcr4"], facility="east"))
    led.add_credential(
        world.ca,
        Credential(id="CO4-KEY", kind=CredentialKind.SAFE_DEPOSIT_KEY, serial="K4", holder="tcr-4"),
    )
    # Everyone is present with their key: whoever a change names as vouching co-signs it
    # (the policy, not a missing co-signature, is what these tests exercise).
    present = [("iw-2", "iw2"), ("ca-2", "ca2"), ("ssc-1", "ssc"), ("tcr-4", "tcr4")]
    led.use_cosigners([WitnessSigner(pid, EXTRA_KEYS[k]) for pid, k in present])
    led.use_cosigners([WitnessSigner(p, KEYS[k]) for p, k in (("ca-1", "ca"), ("sa-1", "sa"))])
    led.use_cosigners([WitnessSigner("tcr-3", KEYS["tcr"])])
    return world


def _tcr4() -> Actor:
    return Actor("tcr-4", EXTRA_KEYS["tcr4"])


def _sealed_bag(w: World, serial: str = "TEB-1", cred: str = "CO3-KEY", holder: str = "tcr-3"):
    return w.ledger.seal_bag(w.ca, serial, [cred], witness="iw-1", location=SAFE, holder=holder)


def _refused(rule: str, call, *args, **kwargs) -> NotPermitted:  # type: ignore[no-untyped-def]
    with pytest.raises(NotPermitted) as caught:
        call(*args, **kwargs)
    assert caught.value.rule == rule
    assert caught.value.exit_code == ExitCode.NOT_PERMITTED == 5
    assert f"policy rule {rule}" in str(caught.value)
    return caught.value


def _unchanged(w: World):  # type: ignore[no-untyped-def]
    """A checker: the audit log did not grow."""
    before = w.ledger.audit.count()
    return lambda: w.ledger.audit.count() == before


# -- one test per rule ----------------------------------------------------------------------
def test_rule_action_role_refuses_a_tcr_inspecting_a_bag(crew: World) -> None:
    _sealed_bag(crew)
    same = _unchanged(crew)
    _refused(
        "action-role",
        crew.ledger.inspect_bag,
        _tcr4(),
        "TEB-1",
        serial_read="TEB-1",
        checklist={"seal": True},
        witness="iw-1",
    )
    assert same()


def test_rule_action_role_refuses_a_ca_adding_people(crew: World) -> None:
    newcomer = _person("x-1", (Role.IW,), SoftwareEd25519Signer.generate())
    _refused("action-role", crew.ledger.add_person, crew.ca, newcomer)


def test_rule_witness_role_refuses_a_tcr_as_witness(crew: World) -> None:
    _refused(
        "witness-role",
        crew.ledger.seal_bag,
        crew.ca,
        "TEB-1",
        ["CO3-KEY"],
        witness="tcr-4",
        location=SAFE,
        holder="tcr-3",
    )


def test_rule_witness_distinct_refuses_a_tcr_sealing_with_themselves_as_witness(
    crew: World,
) -> None:
    # The lifecycle refuses a missing or identical witness earlier (WitnessRequired), so the
    # rule is seen where the lifecycle allows it: a credential destroyed by a CA.
    led = crew.ledger
    led.credential_action(crew.ca, "CO4-KEY", _retire())
    _refused(
        "witness-distinct", led.credential_action, crew.ca, "CO4-KEY", _destroy(), witness="ca-1"
    )


def _retire():  # type: ignore[no-untyped-def]
    from tcr_kit.custody.lifecycle import CredentialAction

    return CredentialAction.RETIRE


def _destroy():  # type: ignore[no-untyped-def]
    from tcr_kit.custody.lifecycle import CredentialAction

    return CredentialAction.DESTROY


def test_rule_tcr_own_only_refuses_one_tcr_sealing_anothers_card(crew: World) -> None:
    same = _unchanged(crew)
    _refused(
        "tcr-own-only",
        crew.ledger.seal_bag,
        _tcr4(),
        "TEB-1",
        ["CO3-KEY"],
        witness="iw-1",
        location=SAFE,
        holder="tcr-3",
    )
    assert same()
    # ... while sealing their own card, witnessed by staff, is allowed.
    crew.ledger.seal_bag(
        _tcr4(), "TEB-4", ["CO4-KEY"], witness="iw-1", location=SAFE, holder="tcr-4"
    )


def test_rule_tcr_own_only_refuses_an_attestation_for_someone_elses_card(crew: World) -> None:
    signed = remote.seal(KEYS["tcr"], holder="tcr-3", bag_serial="TEB-9", contents=["CO4-KEY"])
    _refused("tcr-own-only", crew.ledger.record_remote_seal, crew.ca, signed)


def test_rule_holder_not_vouching_refuses_a_holder_witnessing_their_own_bag(crew: World) -> None:
    led = crew.ledger
    # A staff member who holds a credential (a token) and is asked to witness its bag.
    led.add_person(crew.sa, _person("iw-3", (Role.IW,), SoftwareEd25519Signer.generate()))
    led.add_credential(
        crew.ca, Credential(id="IW3-KEY", kind=CredentialKind.TOKEN, serial="T3", holder="iw-3")
    )
    led.seal_bag(crew.ca, "TEB-5", ["IW3-KEY"], witness="iw-1", location=SAFE, holder="iw-3")
    _refused(
        "holder-not-vouching",
        led.inspect_bag,
        crew.ca,
        "TEB-5",
        serial_read="TEB-5",
        checklist={"seal": True},
        witness="iw-3",
    )


def test_rule_holder_not_vouching_refuses_a_holder_resolving_about_their_own_bag(
    crew: World,
) -> None:
    led = crew.ledger
    _sealed_bag(crew)
    d = led.add_discrepancy(
        crew.iw,
        category=DiscrepancyCategory.PROCEDURE,
        severity=Severity.LOW,
        description="label applied before sealing",
        objects=["bag:TEB-1"],
    )
    # An IW who also holds the bag's credential: make iw-1 the holder of a second bag.
    led.add_credential(
        crew.ca, Credential(id="IW1-TOKEN", kind=CredentialKind.TOKEN, serial="T1", holder="iw-1")
    )
    led.seal_bag(crew.ca, "TEB-6", ["IW1-TOKEN"], witness="iw-2", location=SAFE, holder="iw-1")
    d6 = led.add_discrepancy(
        crew.ca,
        category=DiscrepancyCategory.PROCEDURE,
        severity=Severity.LOW,
        description="bag photographed late",
        objects=["bag:TEB-6"],
    )
    _refused("holder-not-vouching", led.resolve_discrepancy, crew.iw, d6.id, "fine")
    led.resolve_discrepancy(crew.iw, d.id, "relabelled")


def test_rule_critical_two_staff_refuses_one_person_resolving_a_critical_discrepancy(
    crew: World,
) -> None:
    led = crew.ledger
    d = _tamper(crew)
    same = _unchanged(crew)
    _refused("critical-two-staff", led.resolve_discrepancy, crew.iw, d, "looked fine later")
    _refused(
        "critical-two-staff",
        led.resolve_discrepancy,
        crew.iw,
        d,
        "looked fine later",
        second="iw-1",
    )
    assert same()
    led.resolve_discrepancy(crew.iw, d, "bag examined by two staff: glue residue", second="iw-2")


def test_rule_critical_two_staff_refuses_an_involved_person_and_a_single_override(
    crew: World,
) -> None:
    led = crew.ledger
    d = _tamper(crew)
    # A CO resolving the tamper finding on their own bag: refused (not staff, and involved).
    with pytest.raises(NotPermitted):
        led.resolve_discrepancy(crew.tcr, d, "it is fine", second="iw-1")
    # Overriding counts the CA opening and the IW overriding: with a policy asking for
    # three staff members, two are refused.
    led.set_policy(
        crew.sa, default_policy_text().replace("critical_people = 2", "critical_people = 3")
    )
    _refused(
        "critical-two-staff",
        led.open_bag,
        crew.ca,
        "TEB-1",
        serial_read="TEB-1",
        witness="iw-1",
        override_by="iw-2",
    )
    led.set_policy(crew.sa, default_policy_text())
    led.open_bag(crew.ca, "TEB-1", serial_read="TEB-1", witness="iw-1", override_by="iw-2")


def _tamper(w: World) -> str:
    """TEB-1 (tcr-3's key) inspected with a failed tamper check: a critical discrepancy."""
    from tcr_kit.custody.errors import DiscrepancyOpened

    _sealed_bag(w)
    with pytest.raises(DiscrepancyOpened) as opened:
        w.ledger.inspect_bag(
            w.ca, "TEB-1", serial_read="TEB-1", checklist={"seal-intact": False}, witness="iw-1"
        )
    return opened.value.discrepancies[0].id


def test_policy_set_is_for_an_sa_only_and_changes_what_is_permitted(crew: World) -> None:
    led = crew.ledger
    text = default_policy_text().replace('"bag.store" = ["CA", "SSC"]', '"bag.store" = ["SSC"]')
    _refused("action-role", led.set_policy, crew.ca, text)
    assert led.policy().name == "default" and not led.history("policy")
    led.set_policy(crew.sa, text)
    assert led.policy().text == text
    _sealed_bag(crew)
    _refused("action-role", led.store_bag, crew.ca, "TEB-1", location=FACILITY)
    led.store_bag(Actor("ssc-1", EXTRA_KEYS["ssc"]), "TEB-1", location=FACILITY)
    led.verify()


def test_a_policy_file_must_list_every_action_and_known_roles_only(crew: World) -> None:
    text = default_policy_text()
    with pytest.raises(PolicyInvalid):
        crew.ledger.set_policy(crew.sa, text.replace('"hsm.activate" = ["CA"]', ""))
    with pytest.raises(PolicyInvalid):
        crew.ledger.set_policy(
            crew.sa, text.replace('"hsm.activate" = ["CA"]', '"hsm.activate" = ["BOSS"]')
        )
    assert set(ACTIONS) and set(RULES)


def test_a_dry_run_reports_the_same_refusal(crew: World) -> None:
    _sealed_bag(crew)
    _refused(
        "action-role",
        crew.ledger.inspect_bag,
        crew.tcr,
        "TEB-1",
        serial_read="TEB-1",
        checklist={"seal": True},
        witness="iw-1",
        dry_run=True,
    )


def test_the_readme_flow_still_works_for_the_right_people(crew: World) -> None:
    led = crew.ledger
    signed = remote.seal(KEYS["tcr"], holder="tcr-3", bag_serial="TEB-1001", contents=["CO3-KEY"])
    led.ship_remotely_sealed(
        crew.ca, signed, carrier="courier", tracking="1Z9", sender="tcr-3", recipient="east"
    )
    led.receive_bag(crew.ca, "TEB-1001", serial_read="TEB-1001", location=FACILITY)
    led.inspect_bag(
        crew.ca, "TEB-1001", serial_read="TEB-1001", checklist={"seal-intact": True}, witness="iw-1"
    )
    led.open_bag(crew.ca, "TEB-1001", serial_read="TEB-1001", witness="iw-1")
    led.reseal_bag(crew.ca, "TEB-1001", "TEB-2002", witness="iw-1", location=SAFE)
    led.verify()


# -- ship --attestation is one transaction ---------------------------------------------------
def test_a_refused_shipment_leaves_no_remote_seal_recorded(crew: World) -> None:
    led = crew.ledger
    text = default_policy_text().replace('"bag.ship" = ["CA", "SSC"]', '"bag.ship" = ["SSC"]')
    led.set_policy(crew.sa, text)
    signed = remote.seal(KEYS["tcr"], holder="tcr-3", bag_serial="TEB-1001", contents=["CO3-KEY"])
    same = _unchanged(crew)
    with pytest.raises(NotPermitted):
        led.ship_remotely_sealed(
            crew.ca, signed, carrier="c", tracking="t", sender="tcr-3", recipient="east"
        )
    assert same()
    assert led.bags() == [] and led.credential("CO3-KEY").state.value == "issued"
    led.verify()


# -- rows edited behind the tool's back ------------------------------------------------------
def _sql(path: Path, statement: str, *args: object) -> None:
    conn = sqlite3.connect(str(path))
    with conn:
        conn.execute(statement, args)
    conn.close()


def test_a_deleted_discrepancy_row_refuses_opening_the_bag(crew: World) -> None:
    d = _tamper(crew)
    _sql(crew.path, "DELETE FROM discrepancy WHERE key = ?", d)
    same = _unchanged(crew)
    with pytest.raises(LedgerIntegrityError) as caught:
        crew.ledger.open_bag(crew.ca, "TEB-1", serial_read="TEB-1", witness="iw-1")
    assert f"discrepancy/{d}" in str(caught.value) and "deleted" in str(caught.value)
    assert caught.value.exit_code == ExitCode.INTEGRITY
    assert same()


def test_an_edited_bag_row_refuses_the_next_change_naming_it(crew: World) -> None:
    _sealed_bag(crew)
    _sql(
        crew.path,
        'UPDATE bag SET doc = replace(doc, \'"holder":"tcr-3"\', \'"holder":"tcr-4"\') '
        "WHERE key = 'TEB-1'",
    )
    with pytest.raises(LedgerIntegrityError) as caught:
        crew.ledger.store_bag(crew.ca, "TEB-1", location=FACILITY)
    assert "bag/TEB-1" in str(caught.value) and "edited" in str(caught.value)


def test_an_inserted_discrepancy_and_a_deleted_event_are_noticed(crew: World) -> None:
    _sealed_bag(crew)
    d = crew.ledger.add_discrepancy(
        crew.iw,
        category=DiscrepancyCategory.OTHER,
        severity=Severity.LOW,
        description="x",
        objects=["bag:TEB-1"],
    )
    _sql(
        crew.path,
        "INSERT INTO discrepancy (key, doc) SELECT 'D-0099', replace(doc, ?, 'D-0099') "
        "FROM discrepancy WHERE key = ?",
        d.id,
        d.id,
    )
    with pytest.raises(LedgerIntegrityError) as inserted:
        crew.ledger.store_bag(crew.ca, "TEB-1", location=FACILITY)
    assert "discrepancy/D-0099" in str(inserted.value)
    _sql(crew.path, "DELETE FROM discrepancy WHERE key = 'D-0099'")
    _sql(crew.path, "DELETE FROM audit_event WHERE seq = 3")
    with pytest.raises(IntegrityError) as gap:
        crew.ledger.store_bag(crew.ca, "TEB-1", location=FACILITY)
    assert "deleted" in str(gap.value)


# -- credentials: replace, enrolment ---------------------------------------------------------
def test_replacing_a_credential_retires_the_old_one_in_the_same_change(crew: World) -> None:
    led = crew.ledger
    new = Credential(id="CO3-KEY-2", kind=CredentialKind.SAFE_DEPOSIT_KEY, serial="BOX7-KEY-B")
    led.replace_credential(crew.ca, "CO3-KEY", new)
    assert led.credential("CO3-KEY").state.value == "retired"
    got = led.credential("CO3-KEY-2")
    assert got.holder == "tcr-3" and got.state.value == "issued"
    assert led.history("credential:CO3-KEY")[-1]["kind"] == "credential.replace"
    led.verify()


def test_an_enrolment_record_that_disagrees_with_the_credential_is_refused(crew: World) -> None:
    import json

    record = json.dumps(
        {"card": {"serial": "OTHER"}, "tcr": {"id": "tcr-4"}, "share": {"index": 5}}
    )
    with pytest.raises(IntegrityError) as caught:
        crew.ledger.record_enrolment(crew.ca, "CO3-KEY", record)
    message = str(caught.value)
    assert "serial OTHER" in message and "tcr-4" in message and "index 5" in message
    assert caught.value.exit_code == ExitCode.INTEGRITY
