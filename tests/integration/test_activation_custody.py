"""Activation consults custody (issue 9): a credential the ledger shows sealed in an unopened
bag, from a bag with an open critical discrepancy, retired, unregistered, or neither taken
from a bag inspected intact and opened in this ceremony nor presented in person by its holder
present in the room, is refused before any PIN try, with exit 3; an emergency override signed
by two staff members lets it through and is recorded; a person the policy does not let
activate is refused with exit 5; readiness counts one share index once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tcr_kit.audit.cosign import WitnessSigner
from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.audit.timeline import entries_of
from tcr_kit.cards.enrol import CardSelector, enrol
from tcr_kit.cards.pkcs11_backend import Pkcs11Card
from tcr_kit.cards.record import TcrRef
from tcr_kit.custody.errors import DiscrepancyOpened
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import (
    Attendance,
    Credential,
    CredentialKind,
    Location,
    LocationKind,
    Person,
    Role,
    ShareSet,
    build,
)
from tcr_kit.errors import ExitCode, NotPermitted
from tcr_kit.hsm.activation import Activation, CardShare, ShareFile
from tcr_kit.hsm.clearance import ActivationOverride, OverrideStatement
from tcr_kit.hsm.errors import CustodyRefused, WrongShareSet
from tcr_kit.hsm.readiness import readiness
from tcr_kit.secrets import SecretBuffer
from tcr_kit.sharing.native import open_share_file
from tests.fixtures.stack import TRANSPORT_PIN, SoftHsm
from tests.integration.conftest import MODULE
from tests.integration.hsm_helpers import DemoHsm, make_hsm

pytestmark = pytest.mark.integration
SAFE = Location(kind=LocationKind.SAFE, facility="east", safe="cs")
KEYS = {n: SoftwareEd25519Signer.generate() for n in ("sa-1", "ca-1", "iw-1", "iw-2")}
PRESENT = ("ca-1", "iw-1", "iw-2", "tcr-1", "tcr-2", "tcr-3", "tcr-4")
"""Ceremony 55's attendance in the room; tcr-5 takes part remotely."""


def pin(value: str) -> SecretBuffer:
    return SecretBuffer(bytearray(value.encode()))


@dataclass
class Site:
    hsm: DemoHsm
    ledger: Ledger
    ca: Actor
    iw: Actor
    card_label: str
    card_record: object


def _person(pid: str, role: Role, **kw: str) -> Person:
    key = KEYS.get(pid) or SoftwareEd25519Signer.generate()
    return build(Person, id=pid, name=pid, roles=(role,), public_key=key.public_key_bytes().hex(),
                 key_algorithm="ed25519", **kw)  # fmt: skip


def _site(
    softhsm: SoftHsm,
    new_token: Callable[[str], tuple[str, str]],
    tmp_path: Path,
    *,
    indexes: Iterable[int] = range(1, 6),
    card_serial: str | None = None,
    card_index: int = 1,
) -> Site:
    hsm = make_hsm(tmp_path, softhsm)
    label, serial = new_token("TCR")
    share = open_share_file(hsm.plan.share_files[0])
    record = enrol(
        Pkcs11Card(MODULE, token_label=label),
        share.encode_compact(),
        tcr=TcrRef(name="TCR 1", id="tcr-1"),
        current_pin=pin(TRANSPORT_PIN),
        new_pin=pin("pin-1-tcr"),
        record_path=tmp_path / "record.json",
    ).record
    led = Ledger.open(tmp_path / "ledger.sqlite")
    sa, ca, iw = (Actor(p, KEYS[p]) for p in ("sa-1", "ca-1", "iw-1"))
    led.initialise(_person("sa-1", Role.SA), KEYS["sa-1"])
    for pid, role in (("ca-1", Role.CA), ("iw-1", Role.IW), ("iw-2", Role.IW)):
        led.add_person(sa, _person(pid, role))
    # The witnesses are present with their keys: they co-sign what they vouch for.
    led.use_cosigners([WitnessSigner(p, KEYS[p]) for p in ("iw-1", "iw-2")])
    cfg = hsm.loaded.share_set
    led.add_share_set(ca, build(ShareSet, id=cfg.id, m=3, n=5, purpose="HSM", epoch=cfg.epoch))
    for i in range(1, 6):
        led.add_person(sa, _person(f"tcr-{i}", Role.CO, facility="east"))
    for i in indexes:
        led.add_credential(
            ca,
            build(Credential, id=f"card-{i}", kind=CredentialKind.SMARTCARD,
                  serial=(card_serial or serial) if i == card_index else f"S{i}",
                  holder=f"tcr-{i}",
                  share_set=cfg.id, share_index=i),
        )  # fmt: skip
    _open_ceremony(led, ca, 55)
    return Site(hsm, led, ca, iw, label, record)


def _open_ceremony(led: Ledger, ca: Actor, number: int) -> None:
    attendance = [build(Attendance, person=p, role="x", remote=False) for p in PRESENT]
    attendance.append(build(Attendance, person="tcr-5", role="CO", remote=True))
    led.begin_ceremony(ca, number, facility="east", attendance=attendance)
    led.use_ceremony(None)


@pytest.fixture
def site(softhsm: SoftHsm, new_token: Callable[[str], tuple[str, str]], tmp_path: Path) -> Site:
    return _site(softhsm, new_token, tmp_path)


def _card(site: Site, the_pin: str) -> CardShare:
    sel = CardSelector(pkcs11_module=MODULE, token_label=site.card_label)
    return CardShare(sel, pin(the_pin), site.card_record)  # type: ignore[arg-type]


def _files(site: Site, *indexes: int) -> list[ShareFile]:
    return [ShareFile(site.hsm.plan.share_files[i - 1]) for i in indexes]


def _activation(site: Site, *in_person: str, **kw: object) -> Activation:
    return Activation(site.hsm.loaded, ledger=site.ledger, actor=site.ca, in_person=in_person,
                      **kw)  # type: ignore[arg-type]  # fmt: skip


def _seal_and_tamper(site: Site) -> None:
    """card-1 sealed in TEB-1; the inspection finds tamper evidence (critical discrepancy);
    the bag is opened over it and the discrepancy resolved by two staff members."""
    led = site.ledger
    led.seal_bag(site.ca, "TEB-1", ["card-1"], witness="iw-1", location=SAFE, holder="tcr-1")
    with pytest.raises(DiscrepancyOpened):
        led.inspect_bag(site.ca, "TEB-1", serial_read="TEB-1", checklist={"seal": False},
                        witness="iw-1")  # fmt: skip
    led.open_bag(site.ca, "TEB-1", serial_read="TEB-1", witness="iw-1", override_by="iw-2")
    led.resolve_discrepancy(site.ca, "D-0001", resolution="card examined", second="iw-1")


def test_a_card_sealed_in_an_unopened_bag_is_refused_before_its_pin_is_tried(site: Site) -> None:
    led = site.ledger
    led.seal_bag(site.ca, "TEB-1", ["card-1"], witness="iw-1", location=SAFE, holder="tcr-1")
    activation = _activation(site, "tcr-2", "tcr-3")
    # A wrong PIN would be "PIN incorrect" if the PIN were tried: custody refuses first.
    with pytest.raises(CustodyRefused) as caught:
        with activation.session([_card(site, "wrong-pin"), *_files(site, 2, 3)]):
            pass
    assert "card-1 is sealed in bag TEB-1" in str(caught.value)
    assert caught.value.exit_code == ExitCode.INTEGRITY
    # The card's PIN counter is untouched: the right PIN still works once the bag is opened.
    led.inspect_bag(site.ca, "TEB-1", serial_read="TEB-1", checklist={"seal": True},
                    witness="iw-1")  # fmt: skip
    led.open_bag(site.ca, "TEB-1", serial_read="TEB-1", witness="iw-1")
    with activation.session([_card(site, "pin-1-tcr"), *_files(site, 2, 3)]) as s:
        s.sign("ksk-demo", b"zone")
    led.verify()
    # The event records why custody let each credential in.
    presented = activation.events[-2].presented
    assert [p.custody_basis for p in presented] == ["bag", "in-person", "in-person"]
    assert "from bag TEB-1, inspected intact" in (presented[0].custody or "")
    assert "in ceremony 55" in (presented[0].custody or "")
    stored = led.history("hsm:" + site.hsm.loaded.hsm.name)
    done = [e for e in stored if e["payload"]["outcome"] == "activated"]
    assert done[0]["payload"]["presented"][1]["custody_basis"] == "in-person"
    assert done[0]["payload"]["ceremony"] == 55


def test_a_card_from_a_bag_with_an_open_critical_discrepancy_is_refused(site: Site) -> None:
    led = site.ledger
    led.seal_bag(site.ca, "TEB-1", ["card-1"], witness="iw-1", location=SAFE, holder="tcr-1")
    with pytest.raises(DiscrepancyOpened):
        led.inspect_bag(site.ca, "TEB-1", serial_read="TEB-1", checklist={"seal": False},
                        witness="iw-1")  # fmt: skip
    led.open_bag(site.ca, "TEB-1", serial_read="TEB-1", witness="iw-1", override_by="iw-2")
    activation = _activation(site, "tcr-1", "tcr-2", "tcr-3")
    with pytest.raises(CustodyRefused) as caught:
        activation.collect([_card(site, "pin-1-tcr"), *_files(site, 2, 3)])
    assert "open critical discrepancy D-0001 (tamper) on bag:TEB-1" in str(caught.value)
    # The same refusal for the share file of that index.
    with pytest.raises(CustodyRefused):
        activation.collect(_files(site, 1, 2, 3))
    view = readiness(site.hsm.loaded, led)
    assert view.credentials[0].availability == "blocked"


def test_a_retired_credential_is_refused_and_readiness_counts_its_index_once(
    site: Site,
) -> None:
    led = site.ledger
    led.replace_credential(
        site.ca,
        "card-2",
        build(Credential, id="card-2b", kind=CredentialKind.SMARTCARD, serial="S2B",
              holder="tcr-2"),
    )  # fmt: skip
    view = readiness(site.hsm.loaded, led)
    assert view.available == 5 and view.registered == 5
    assert "5 of 5 available" in view.summary
    assert not any("card-2 " in line for line in view.restore)  # replaced: nothing to restore
    # Share 2 now belongs to card-2b: presenting it names the live credential.
    activation = _activation(site, "tcr-2", "tcr-3", "tcr-4")
    quorum = activation.collect(_files(site, 2, 3, 4))
    assert quorum.presented[0].credential == "card-2b"
    led.credential_action(site.ca, "card-2b", _action("retire"))
    with pytest.raises(WrongShareSet, match="as retired; it cannot activate"):
        activation.collect(_files(site, 2, 3, 4))
    assert readiness(site.hsm.loaded, led).available == 4


def _action(name: str):  # type: ignore[no-untyped-def]
    from tcr_kit.custody.lifecycle import CredentialAction

    return CredentialAction(name)


def test_a_person_the_policy_does_not_let_activate_is_refused_with_exit_5(site: Site) -> None:
    activation = Activation(site.hsm.loaded, ledger=site.ledger, actor=site.iw)
    with pytest.raises(NotPermitted) as caught:
        activation.collect(_files(site, 1, 2, 3))
    assert caught.value.rule == "action-role" and caught.value.exit_code == 5


def test_a_credential_not_accounted_for_in_this_ceremony_is_refused(site: Site) -> None:
    led = site.ledger
    # Nobody named as presenting in person: share 1 is not accounted for.
    with pytest.raises(CustodyRefused) as caught:
        _activation(site).collect(_files(site, 1, 2, 3))
    assert caught.value.exit_code == ExitCode.INTEGRITY
    assert "card-1 was not taken from a bag inspected intact and opened in ceremony 55" in str(
        caught.value
    )
    # tcr-5 takes part remotely: naming them does not make their share presented in person.
    with pytest.raises(CustodyRefused, match="tcr-5 is not recorded present in the room"):
        _activation(site, "tcr-1", "tcr-2", "tcr-5").collect(_files(site, 1, 2, 5))
    # A bag opened intact in an earlier ceremony does not account for it in this one.
    led.seal_bag(site.ca, "TEB-3", ["card-3"], witness="iw-1", location=SAFE, holder="tcr-3")
    led.inspect_bag(site.ca, "TEB-3", serial_read="TEB-3", checklist={"seal": True},
                    witness="iw-1")  # fmt: skip
    led.open_bag(site.ca, "TEB-3", serial_read="TEB-3", witness="iw-1")
    assert _activation(site, "tcr-1", "tcr-2").collect(_files(site, 1, 2, 3)).complete()
    led.end_ceremony(site.ca, 55)
    _open_ceremony(led, site.ca, 56)
    with pytest.raises(CustodyRefused, match="card-3 was not taken from a bag"):
        _activation(site, "tcr-1", "tcr-2").collect(_files(site, 1, 2, 3))
    # No ceremony in force at all: nothing is accounted for.
    led.end_ceremony(site.ca, 56)
    led.use_ceremony(None)
    with pytest.raises(CustodyRefused, match="no ceremony is in force"):
        _activation(site, "tcr-1").collect(_files(site, 1, 2, 3))


def test_a_bag_opened_over_tamper_evidence_needs_an_override_by_two_staff(site: Site) -> None:
    _seal_and_tamper(site)
    led, loaded = site.ledger, site.hsm.loaded
    # Resolved, but the bag was never inspected intact: card-1 is not accounted for.
    with pytest.raises(CustodyRefused, match="card-1 was not taken from a bag"):
        _activation(site, "tcr-2", "tcr-3").collect([_card(site, "wrong-pin"), *_files(site, 2, 3)])

    def override(*signers: str, creds: tuple[str, ...] = ("card-1",)) -> ActivationOverride:
        statement = OverrideStatement(
            loaded.hsm.name, loaded.sha256, 55, creds, "TEB-1 seal torn; card examined on camera"
        )
        return ActivationOverride.sign(statement, [Actor(p, KEYS[p]) for p in signers])

    # One staff signature is not enough (exit 5, rule override-two-staff) ...
    with pytest.raises(NotPermitted) as caught:
        _activation(site, "tcr-2", "tcr-3", override=override("iw-1")).collect(
            _files(site, 1, 2, 3)
        )
    assert caught.value.rule == "override-two-staff"
    # ... nor a signature that does not verify under the signer's roster key (exit 3) ...
    forged = override("iw-1", "iw-2")
    bad = ActivationOverride(
        forged.statement,
        (
            forged.signatures[0],
            type(forged.signatures[1])("iw-2", "ed25519", forged.signatures[0].signature),
        ),
    )
    with pytest.raises(CustodyRefused, match="signature of iw-2 does not verify"):
        _activation(site, "tcr-2", "tcr-3", override=bad).collect(_files(site, 1, 2, 3))
    # ... nor an override made for another ceremony.
    elsewhere = ActivationOverride.sign(
        OverrideStatement(loaded.hsm.name, loaded.sha256, 54, ("card-1",), "reason"),
        [Actor(p, KEYS[p]) for p in ("iw-1", "iw-2")],
    )
    with pytest.raises(CustodyRefused, match="ceremony 54"):
        _activation(site, "tcr-2", override=elsewhere).collect(_files(site, 1, 2, 3))
    # Two staff members, neither holding card-1: the override lets card-1 in, and it shows.
    good = override("iw-1", "iw-2")
    activation = _activation(site, "tcr-2", "tcr-3", override=good)
    with activation.session([_card(site, "pin-1-tcr"), *_files(site, 2, 3)]) as s:
        s.sign("ksk-demo", b"zone")
    first = activation.events[0]
    assert first.presented[0].custody_basis == "override"
    assert "emergency override by iw-1, iw-2" in (first.presented[0].custody or "")
    assert first.override == good.facts()
    # The override goes with the activation, not with the end of the session.
    assert activation.events[1].kind == "hsm.deactivate" and activation.events[1].override is None
    led.verify()
    events = list(led.audit.events())
    entry = entries_of(events)[-2]
    assert entry.action == "hsm.activate" and "activated" in entry.outcome
    assert entry.overrides == (
        "custody of card-1 overridden by iw-1, iw-2: TEB-1 seal torn; card examined on camera",
    )


def test_an_override_never_lets_a_retired_credential_in(site: Site) -> None:
    loaded = site.hsm.loaded
    from tcr_kit.custody.lifecycle import CredentialAction

    site.ledger.credential_action(site.ca, "card-3", CredentialAction.LOSE)
    statement = OverrideStatement(loaded.hsm.name, loaded.sha256, 55, ("card-3",), "found it")
    good = ActivationOverride.sign(statement, [Actor(p, KEYS[p]) for p in ("iw-1", "iw-2")])
    with pytest.raises(WrongShareSet, match="card-3 as lost"):
        _activation(site, "tcr-1", "tcr-2", override=good).collect(_files(site, 1, 2, 3))


def test_an_unregistered_share_or_card_is_refused(
    softhsm: SoftHsm, new_token: Callable[[str], tuple[str, str]], tmp_path: Path
) -> None:
    site = _site(softhsm, new_token, tmp_path, indexes=(1, 2, 3, 4), card_serial="S1")
    # A card whose serial no credential carries is refused before its PIN is tried.
    with pytest.raises(CustodyRefused, match=r"no credential of share set .* card serial"):
        _activation(site, "tcr-1").collect([_card(site, "wrong-pin")])
    # A share whose index no credential carries is refused.
    with pytest.raises(CustodyRefused, match="registered with share index 5"):
        _activation(site, "tcr-1", "tcr-2").collect(_files(site, 1, 2, 5))


def test_a_card_registered_as_another_share_is_refused_though_its_own_credential_is_cleared(
    softhsm: SoftHsm, new_token: Callable[[str], tuple[str, str]], tmp_path: Path
) -> None:
    # The card holds share 1, but the ledger registers its serial as card-2 (share 2): the
    # check before the PIN clears card-2 (tcr-2 is present), and only the check of the
    # share read from the card finds that share 1 belongs to card-1, serial S1.
    site = _site(softhsm, new_token, tmp_path, card_index=2)
    quorum = _activation(site, "tcr-1", "tcr-2", "tcr-3").quorum()
    with pytest.raises(CustodyRefused) as caught:
        quorum.add(_card(site, "pin-1-tcr"))
    assert caught.value.exit_code == ExitCode.INTEGRITY
    assert (
        f"share 1 is registered as credential card-1, serial S1, not this card's serial"
        f" {site.ledger.credential('card-2').serial}; it cannot activate the HSM"
    ) in str(caught.value)
    assert quorum.presented == [] and quorum.still_needed() == 3
    # The same share from its file is card-1's, cleared in person: accepted.
    assert quorum.add(_files(site, 1)[0]).credential == "card-1"


def test_a_discrepancy_on_the_holder_blocks_in_person_activation_and_readiness(
    site: Site,
) -> None:
    from tcr_kit.custody.models import DiscrepancyCategory, Severity

    led = site.ledger
    led.add_discrepancy(site.iw, category=DiscrepancyCategory.PROCEDURE,
                        severity=Severity.HIGH, description="tcr-2 arrived without ID",
                        objects=["person:tcr-2"])  # fmt: skip
    with pytest.raises(CustodyRefused, match=r"discrepancy D-0001 .* on person:tcr-2"):
        _activation(site, "tcr-1", "tcr-2").collect(_files(site, 1, 2))
    view = readiness(site.hsm.loaded, led)
    blocked = [v.credential for v in view.credentials if v.availability == "blocked"]
    assert blocked == ["card-2"] and view.available == 4
    # The other holders present in person still activate.
    assert _activation(site, "tcr-1", "tcr-3", "tcr-4").collect(_files(site, 1, 3, 4)).complete()
