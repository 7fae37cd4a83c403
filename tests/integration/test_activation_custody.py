"""Activation consults custody (issue 9): a credential the ledger shows sealed in an unopened
bag, from a bag with an open critical discrepancy, or retired, is refused before any PIN
try, with exit 3; a person the policy does not let activate is refused with exit 5;
readiness counts one share index once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tcr_kit.audit.cosign import WitnessSigner
from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.cards.enrol import CardSelector, enrol
from tcr_kit.cards.pkcs11_backend import Pkcs11Card
from tcr_kit.cards.record import TcrRef
from tcr_kit.custody.errors import DiscrepancyOpened
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import (
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


@pytest.fixture
def site(softhsm: SoftHsm, new_token: Callable[[str], tuple[str, str]], tmp_path: Path) -> Site:
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
        led.add_credential(
            ca,
            build(Credential, id=f"card-{i}", kind=CredentialKind.SMARTCARD,
                  serial=serial if i == 1 else f"S{i}", holder=f"tcr-{i}", share_set=cfg.id,
                  share_index=i),
        )  # fmt: skip
    return Site(hsm, led, ca, iw, label, record)


def _card(site: Site, the_pin: str) -> CardShare:
    sel = CardSelector(pkcs11_module=MODULE, token_label=site.card_label)
    return CardShare(sel, pin(the_pin), site.card_record)  # type: ignore[arg-type]


def _files(site: Site, *indexes: int) -> list[ShareFile]:
    return [ShareFile(site.hsm.plan.share_files[i - 1]) for i in indexes]


def test_a_card_sealed_in_an_unopened_bag_is_refused_before_its_pin_is_tried(site: Site) -> None:
    led = site.ledger
    led.seal_bag(site.ca, "TEB-1", ["card-1"], witness="iw-1", location=SAFE, holder="tcr-1")
    activation = Activation(site.hsm.loaded, ledger=led, actor=site.ca)
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


def test_a_card_from_a_bag_with_an_open_critical_discrepancy_is_refused(site: Site) -> None:
    led = site.ledger
    led.seal_bag(site.ca, "TEB-1", ["card-1"], witness="iw-1", location=SAFE, holder="tcr-1")
    with pytest.raises(DiscrepancyOpened):
        led.inspect_bag(site.ca, "TEB-1", serial_read="TEB-1", checklist={"seal": False},
                        witness="iw-1")  # fmt: skip
    led.open_bag(site.ca, "TEB-1", serial_read="TEB-1", witness="iw-1", override_by="iw-2")
    activation = Activation(site.hsm.loaded, ledger=led, actor=site.ca)
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
        build(Credential, id="card-2b", kind=CredentialKind.SMARTCARD, serial="S2B"),
    )
    view = readiness(site.hsm.loaded, led)
    assert view.available == 5 and view.registered == 5
    assert "5 of 5 available" in view.summary
    assert not any("card-2 " in line for line in view.restore)  # replaced: nothing to restore
    # Share 2 now belongs to card-2b: presenting it names the live credential.
    activation = Activation(site.hsm.loaded, ledger=led, actor=site.ca)
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
