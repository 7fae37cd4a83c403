"""Staff sign an emergency activation override with their cards (real SoftHSM2 tokens, one
with an Ed25519 signing key, one with a P-256 one): ``tcr hsm activate
--override-signer-card`` and :func:`tcr_kit.hsm.clearance.sign_override` with a
:class:`CardSigner`. The signatures verify under the roster's card keys, the activation
goes through, and a card signing for someone else, or a single staff card, is refused."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tcr_kit.audit.signing import ECDSA_P256, ED25519, SoftwareEd25519Signer, verify_signature
from tcr_kit.cards.enrol import enrol
from tcr_kit.cards.errors import PinIncorrect
from tcr_kit.cards.pkcs11_backend import Pkcs11Card
from tcr_kit.cards.record import SigningAlgorithm, TcrRef
from tcr_kit.cards.signing import CardSigner
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import Person, Role, build
from tcr_kit.hsm.activation import Activation, ShareFile
from tcr_kit.hsm.clearance import OverrideStatement, sign_override
from tcr_kit.secrets import SecretBuffer
from tests.fixtures.stack import TRANSPORT_PIN, SoftHsm
from tests.integration.conftest import MODULE, one_error_line, run_tcr
from tests.integration.hsm_helpers import DemoHsm, custody_ledger, make_hsm, register_shares

pytestmark = pytest.mark.integration

REASON = "tcr-1 is ill; their share came by courier in a sealed envelope"


def _pin(value: str) -> SecretBuffer:
    return SecretBuffer(bytearray(value.encode()))


@dataclass
class Site:
    hsm: DemoHsm
    ledger: Ledger
    keys: dict[str, SoftwareEd25519Signer]
    cards: dict[str, str]
    """Staff id -> the label of their card's token (PIN: ``<id>-card-pin``)."""
    folder: Path


def _staff_card(
    new_token: Callable[[str], tuple[str, str]], folder: Path, who: str, algo: SigningAlgorithm
) -> str:
    label, _serial = new_token("STAFF")
    enrol(
        Pkcs11Card(MODULE, token_label=label),
        f"{who}'s staff card".encode(),
        tcr=TcrRef(name=who, id=who),
        current_pin=_pin(TRANSPORT_PIN),
        new_pin=_pin(f"{who}-card-pin"),
        record_path=folder / f"{who}.json",
        signing_algorithm=algo,
    )
    return label


def _signer(site: Site, who: str) -> CardSigner:
    return CardSigner(Pkcs11Card(MODULE, token_label=site.cards[who]), _pin(f"{who}-card-pin"))


@pytest.fixture
def site(softhsm: SoftHsm, new_token: Callable[[str], tuple[str, str]], tmp_path: Path) -> Site:
    """An HSM with 5 shares registered to tcr-1..5, ceremony 1 open; staff iw-1 (Ed25519
    card) and iw-2 (P-256 card) on the roster with their cards' signing keys."""
    hsm = make_hsm(tmp_path, softhsm)
    keys: dict[str, SoftwareEd25519Signer] = {}
    ledger, ca = custody_ledger(tmp_path / "ledger.sqlite", hsm.loaded.share_set.id, keys=keys)
    register_shares(ledger, ca, hsm.loaded.share_set.id, 5)
    cards = {
        "iw-1": _staff_card(new_token, tmp_path, "iw-1", "ed25519"),
        "iw-2": _staff_card(new_token, tmp_path, "iw-2", "ec-p256"),
    }
    result = Site(hsm, ledger, keys, cards, tmp_path)
    for who in cards:
        with _signer(result, who) as card:
            ledger.add_person(
                Actor("sa", keys["sa"]),
                build(Person, id=who, name=who.upper(), roles=(Role.IW,),
                      public_key=card.public_key_bytes().hex(), key_algorithm=card.algorithm),
            )  # fmt: skip
    return result


def test_sign_override_with_an_ed25519_and_a_p256_card_lets_the_credential_in(
    site: Site,
) -> None:
    loaded = site.hsm.loaded
    set_id = loaded.share_set.id
    with _signer(site, "iw-1") as ed, _signer(site, "iw-2") as p256:
        override = sign_override(site.ledger, loaded.hsm.name, loaded.sha256, [f"{set_id}-1"],
                                 REASON, [Actor("iw-1", ed), Actor("iw-2", p256)])  # fmt: skip
        public = {"iw-1": ed.public_key_bytes(), "iw-2": p256.public_key_bytes()}
    assert [(s.person, s.algorithm) for s in override.signatures] == [
        ("iw-1", ED25519),
        ("iw-2", ECDSA_P256),
    ]
    message = override.statement.message()
    for sig in override.signatures:
        verify_signature(sig.algorithm, public[sig.person], message, bytes.fromhex(sig.signature))
    # tcr-1 is neither in the room nor was their share taken from a bag: only the override
    # lets share 1 in.
    activation = Activation(loaded, ledger=site.ledger, actor=Actor("ca", site.keys["ca"]),
                            in_person=("tcr-2", "tcr-3"), override=override)  # fmt: skip
    files = [ShareFile(p) for p in site.hsm.plan.share_files[:3]]
    with activation.session(files) as s:
        s.sign("ksk-demo", b"zone")
    first = activation.events[0]
    assert first.presented[0].custody_basis == "override"
    assert "emergency override by iw-1, iw-2" in (first.presented[0].custody or "")
    assert first.override == override.facts()
    site.ledger.verify()


def _spec(site: Site, who: str, card_of: str | None = None) -> str:
    card_of = card_of or who
    pin_file = site.folder / f"{card_of}.pin"
    pin_file.write_text(f"{card_of}-card-pin\n")
    os.chmod(pin_file, 0o600)
    return f"{who}=module={MODULE},token-label={site.cards[card_of]},pin-file={pin_file}"


def _activate(site: Site, *extra: str) -> list[str]:
    if not (site.folder / "ca.pem").exists():
        site.keys["ca"].save(site.folder / "ca.pem")
    zone = site.folder / "zone.txt"
    zone.write_text("example.\n")
    out = site.folder / "z.sig"
    out.unlink(missing_ok=True)
    return ["hsm", "activate", "--config", str(site.hsm.config_path), "--as", "ca", "--key",
            str(site.folder / "ca.pem"), "--in-person=tcr-2", "--in-person=tcr-3",
            *(f"--share={p}" for p in site.hsm.plan.share_files[:3]),
            "--sign-key", "ksk-demo", "--input", str(zone), "--output", str(out),
            "--override", f"{site.hsm.loaded.share_set.id}-1", "--override-reason", REASON,
            *extra]  # fmt: skip


def test_cli_override_signed_with_two_staff_cards(site: Site) -> None:
    site.ledger.close()
    env = {"TCR_LEDGER": str(site.folder / "ledger.sqlite"),
           "SOFTHSM2_CONF": os.environ["SOFTHSM2_CONF"]}  # fmt: skip
    # One staff card is not two staff members (exit 5, rule override-two-staff).
    one = run_tcr(_activate(site, "--override-signer-card", _spec(site, "iw-1")), env=env)
    assert one.returncode == 5, one.stderr
    assert "needs the signatures of 2 different" in one_error_line(one)
    # iw-2's card signing as iw-1: a valid P-256 signature under the wrong roster key (exit 3).
    wrong = run_tcr(_activate(site, "--override-signer-card", _spec(site, "iw-1", "iw-2"),
                              "--override-signer-card", _spec(site, "iw-2")), env=env)  # fmt: skip
    assert wrong.returncode == 3, wrong.stderr
    assert "override signature of iw-1 does not verify" in one_error_line(wrong)
    # A malformed card spec is bad input, before any card or PIN.
    bad = run_tcr(_activate(site, "--override-signer-card", "iw-1=token-label=X"), env=env)
    assert bad.returncode == 2 and "module=PATH is needed" in one_error_line(bad)
    # The two staff cards (Ed25519 and P-256): the activation goes through and is recorded.
    done = run_tcr(_activate(site, "--override-signer-card", _spec(site, "iw-1"),
                             "--override-signer-card", _spec(site, "iw-2"), "--json"),
                   env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    signatures = result["override"]["signatures"]
    assert [(s["person"], s["algorithm"]) for s in signatures] == [
        ("iw-1", ED25519),
        ("iw-2", ECDSA_P256),
    ]
    statement = OverrideStatement(**{
        k: v for k, v in result["override"]["statement"].items()
        if k in ("hsm", "config_sha256", "ceremony", "reason")
    }, credentials=tuple(result["override"]["statement"]["credentials"]))  # fmt: skip
    with Ledger.open(site.folder / "ledger.sqlite", create=False) as led:
        for sig in signatures:
            person = led.person(sig["person"])
            assert person.public_key is not None
            verify_signature(sig["algorithm"], bytes.fromhex(person.public_key),
                             statement.message(), bytes.fromhex(sig["signature"]))  # fmt: skip
        events = [e for e in led.history(f"hsm:{site.hsm.loaded.hsm.name}")
                  if e["kind"] == "hsm.activate"]  # fmt: skip
    assert events[-1]["payload"]["override"]["signatures"] == signatures
    assert run_tcr(["audit", "verify"], env=env).returncode == 0


def test_cli_override_mixes_a_key_file_and_a_card(site: Site) -> None:
    """A staff member with a software key and one with a card sign the same override."""
    site.ledger.close()
    env = {"TCR_LEDGER": str(site.folder / "ledger.sqlite"),
           "SOFTHSM2_CONF": os.environ["SOFTHSM2_CONF"]}  # fmt: skip
    site.keys["ca"].save(site.folder / "ca-signer.pem")
    # iw-2 types the card's PIN (here: one line of stdin); no pin-file.
    no_file = _spec(site, "iw-2").rsplit(",pin-file=", 1)[0]
    signers = ["--override-signer", f"ca={site.folder / 'ca-signer.pem'}",
               "--override-signer-card", no_file]  # fmt: skip
    wrong = run_tcr(_activate(site, *signers), stdin="not-the-pin\n", env=env)
    assert wrong.returncode == 1 and "wrong PIN" in one_error_line(wrong), wrong.stderr
    assert not (site.folder / "z.sig").exists()
    done = run_tcr(_activate(site, *signers, "--json"), stdin="iw-2-card-pin\n", env=env)
    assert done.returncode == 0, done.stderr
    signatures = json.loads(done.stdout)["override"]["signatures"]
    assert [(s["person"], s["algorithm"]) for s in signatures] == [
        ("ca", ED25519),
        ("iw-2", ECDSA_P256),
    ]


def test_a_tcr_approves_remotely_with_a_p256_card(
    site: Site, new_token: Callable[[str], tuple[str, str]]
) -> None:
    """Remote approval (docs/remote-approval.md) with a P-256 card: the approval carries
    the key the roster registered (DER SPKI) and is counted valid; iw-2's P-256 card
    signing as the TCR is rejected."""
    from datetime import timedelta

    from tcr_kit.clock import utcnow
    from tcr_kit.hsm.approval import check_approvals, ledger_roster, new_request, sign_request

    site.cards["rksh-1"] = _staff_card(new_token, site.folder, "rksh-1", "ec-p256")
    with _signer(site, "rksh-1") as card:
        site.ledger.add_person(
            Actor("sa", site.keys["sa"]),
            build(Person, id="rksh-1", name="RKSH 1", roles=(Role.RKSH,),
                  public_key=card.public_key_bytes().hex(), key_algorithm=card.algorithm),
        )  # fmt: skip
        request = new_request(site.hsm.loaded, ceremony=1, purpose="sign the Q1 SKR",
                              expires=utcnow() + timedelta(hours=1))  # fmt: skip
        approval = sign_request(request, "rksh-1", card)
    with _signer(site, "iw-2") as other:
        forged = sign_request(request, "rksh-1", other)
    check = check_approvals(request, [approval, forged], ledger_roster(site.ledger))
    assert [a.signer for a in check.valid] == ["rksh-1"]
    assert check.rejected == [("rksh-1", "signed with a key the roster does not record for rksh-1")]


def _refusals(ledger: Ledger, hsm: str) -> list[dict[str, object]]:
    return [
        e["payload"]
        for e in ledger.history(f"hsm:{hsm}")
        if e["kind"] == "hsm.activate" and str(e["payload"]["outcome"]).startswith("refused")
    ]


def test_a_wrong_override_card_pin_is_recorded_as_a_refused_activation(site: Site) -> None:
    """As a wrong PIN on a share's card is: a signed, refused ``hsm.activate`` naming whose
    card and the tries left, without the PIN; nothing else happens and the log verifies."""
    loaded = site.hsm.loaded
    activation = Activation(loaded, ledger=site.ledger, actor=Actor("ca", site.keys["ca"]),
                            in_person=("tcr-2", "tcr-3"))  # fmt: skip
    wrong = CardSigner(Pkcs11Card(MODULE, token_label=site.cards["iw-2"]), _pin("not-the-pin"))
    with _signer(site, "iw-1") as ed, wrong:
        with pytest.raises(PinIncorrect, match="override signer card of iw-2"):
            activation.sign_override([f"{loaded.share_set.id}-1"], REASON,
                                     [Actor("iw-1", ed), Actor("iw-2", wrong)])  # fmt: skip
    assert activation.override is None
    (event,) = activation.events
    assert event.refused and event.purpose == "override-signature"
    # The tries left as the token reports them (SoftHSM2, like most PKCS#11 tokens, only
    # flags the final try: PinIncorrect(1) then).
    assert event.outcome == "refused: " + str(
        PinIncorrect(None, "PIN of the override signer card of iw-2")
    )
    (recorded,) = _refusals(site.ledger, loaded.hsm.name)
    assert recorded["outcome"] == event.outcome and recorded["purpose"] == "override-signature"
    assert "not-the-pin" not in json.dumps(recorded)
    site.ledger.verify()


def test_cli_wrong_override_card_pin_is_in_the_ledger(site: Site) -> None:
    site.ledger.close()
    env = {"TCR_LEDGER": str(site.folder / "ledger.sqlite"),
           "SOFTHSM2_CONF": os.environ["SOFTHSM2_CONF"]}  # fmt: skip
    typed = _spec(site, "iw-2").rsplit(",pin-file=", 1)[0]
    wrong = run_tcr(_activate(site, "--override-signer-card", _spec(site, "iw-1"),
                              "--override-signer-card", typed),
                    stdin="not-the-pin\n", env=env)  # fmt: skip
    assert wrong.returncode == 1, wrong.stderr
    line = one_error_line(wrong)
    assert "wrong PIN of the override signer card of iw-2" in line
    assert not (site.folder / "z.sig").exists()
    with Ledger.open(site.folder / "ledger.sqlite", create=False) as led:
        (recorded,) = _refusals(led, site.hsm.loaded.hsm.name)
        assert recorded["outcome"] == "refused: " + line.removeprefix("error: ")
        assert "not-the-pin" not in json.dumps(recorded)
    assert run_tcr(["audit", "verify"], env=env).returncode == 0


def test_a_wrong_override_card_pin_records_its_verdict_on_the_approvals_given(
    site: Site,
) -> None:
    """The override-signature refusal comes before the activation examined its remote
    approvals: it examines them first, so that what it records carries a verdict (only the
    valid ones listed, the others under ``rejected``), and the verifier re-checks them."""
    from datetime import timedelta

    from tcr_kit.audit.chain import AuditIntegrityError
    from tcr_kit.clock import utcnow
    from tcr_kit.hsm.approval import ApprovalBundle, new_request, sign_request
    from tests.audit_forgery import forge_ledger

    loaded = site.hsm.loaded
    request = new_request(loaded, ceremony=1, purpose="sign the Q1 SKR",
                          expires=utcnow() + timedelta(hours=1))  # fmt: skip
    given = (sign_request(request, "tcr-4", site.keys["tcr-4"]),
             sign_request(request, "tcr-9", SoftwareEd25519Signer.generate()))  # fmt: skip
    activation = Activation(loaded, ledger=site.ledger, actor=Actor("ca", site.keys["ca"]),
                            in_person=("tcr-2", "tcr-3"),
                            approvals=ApprovalBundle(request, given))  # fmt: skip
    wrong = CardSigner(Pkcs11Card(MODULE, token_label=site.cards["iw-2"]), _pin("not-the-pin"))
    with _signer(site, "iw-1") as ed, wrong:
        with pytest.raises(PinIncorrect, match="override signer card of iw-2"):
            activation.sign_override([f"{loaded.share_set.id}-1"], REASON,
                                     [Actor("iw-1", ed), Actor("iw-2", wrong)])  # fmt: skip
    (recorded,) = _refusals(site.ledger, loaded.hsm.name)
    assert recorded["purpose"] == "override-signature"
    approvals = recorded["approvals"]
    assert isinstance(approvals, dict)
    assert [a["signer"] for a in approvals["approvals"]] == ["tcr-4"]
    assert approvals["rejected"] == [{"signer": "tcr-9", "reason": "tcr-9 is not on the roster"}]
    assert site.ledger.verify().statements == 1
    seq = int(site.ledger.history(f"hsm:{loaded.hsm.name}")[-1]["seq"])

    def forged(payload: dict[str, object]) -> None:
        payload["approvals"]["approvals"][0]["signature"] = "5a" * 64  # type: ignore[index]

    path = forge_ledger(site.ledger.path, seq, forged, site.keys["ca"])
    with Ledger.open(path, create=False) as led, pytest.raises(AuditIntegrityError) as caught:
        led.verify()
    assert caught.value.seq == seq
    assert "the approval signature of tcr-4 does not verify" in caught.value.reason
