"""Remote approvals (issue 15): an HSM whose configuration requires 2 approvals is refused
(exit 4, before any share is read) with one approval, an expired request, a signer not on
the roster or a duplicate signer, and activates with 2 valid ones, one of them signed by a
TCR card's signing key on a SoftHSM2 token; the approvals go into the audit event. The
``tcr approval`` commands and ``tcr hsm activate --approvals`` do the same end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.cards.enrol import enrol
from tcr_kit.cards.pkcs11_backend import Pkcs11Card
from tcr_kit.cards.record import TcrRef
from tcr_kit.cards.signing import CardSigner
from tcr_kit.clock import set_clock, utcnow
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import Person, Role, build
from tcr_kit.errors import ExitCode
from tcr_kit.hsm.activation import Activation, ShareFile
from tcr_kit.hsm.approval import (
    ApprovalBundle,
    ApprovalInvalid,
    ApprovalRequest,
    ApprovalsNotMet,
    check_approvals,
    ledger_roster,
    new_request,
    sign_request,
)
from tcr_kit.hsm.config import LoadedConfig, load_config
from tcr_kit.secrets import SecretBuffer
from tcr_kit.sharing.native import open_share_file
from tests.fixtures.stack import TRANSPORT_PIN, SoftHsm
from tests.integration.conftest import MODULE, one_error_line, run_tcr
from tests.integration.hsm_helpers import DemoHsm, custody_ledger, make_hsm, register_shares

pytestmark = pytest.mark.integration


def pin(value: str) -> SecretBuffer:
    return SecretBuffer(bytearray(value.encode()))


@dataclass
class Site:
    hsm: DemoHsm
    loaded: LoadedConfig
    """The configuration requiring 2 approvals."""
    ledger: Ledger
    ca: Actor
    keys: dict[str, SoftwareEd25519Signer]
    holders: tuple[str, ...]
    card: CardSigner
    """The signing key of rksh-1's card (a SoftHSM2 token)."""


@pytest.fixture
def site(softhsm: SoftHsm, new_token: Callable[[str], tuple[str, str]], tmp_path: Path) -> Site:
    hsm = make_hsm(tmp_path, softhsm)
    with hsm.config_path.open("a") as fh:
        fh.write("\n[approvals]\nrequired = 2\n")
    loaded = load_config(hsm.config_path)
    keys: dict[str, SoftwareEd25519Signer] = {}
    ledger, ca = custody_ledger(tmp_path / "ledger.sqlite", loaded.share_set.id, keys=keys)
    holders = register_shares(ledger, ca, loaded.share_set.id, 5)
    # rksh-1 approves from home with their card: the roster records the card's signing key.
    label, _ = new_token("RKSH")
    record = enrol(
        Pkcs11Card(MODULE, token_label=label),
        open_share_file(hsm.plan.share_files[4]).encode_compact(),
        tcr=TcrRef(name="RKSH 1", id="rksh-1"),
        current_pin=pin(TRANSPORT_PIN),
        new_pin=pin("rksh-1-pin"),
        record_path=tmp_path / "rksh-1.json",
    ).record
    assert record.keys is not None
    card = CardSigner(Pkcs11Card(MODULE, token_label=label), pin("rksh-1-pin"))
    roster_key = (
        card.public_key_bytes().hex() if card.algorithm == "ed25519" else card.key.public_key_der
    )
    ledger.add_person(
        Actor("sa", keys["sa"]),
        build(Person, id="rksh-1", name="RKSH 1", roles=(Role.RKSH,), public_key=roster_key,
              key_algorithm=card.algorithm),
    )  # fmt: skip
    return Site(hsm, loaded, ledger, ca, keys, holders, card)


def _request(site: Site, **kw: object) -> ApprovalRequest:
    expires = kw.pop("expires", utcnow() + timedelta(hours=2))
    return new_request(site.loaded, ceremony=1, purpose="sign the Q1 SKR", expires=expires)  # type: ignore[arg-type]


def _activate(site: Site, request: ApprovalRequest, *approvals: object) -> Activation:
    activation = Activation(site.loaded, ledger=site.ledger, actor=site.ca,
                            in_person=site.holders,
                            approvals=ApprovalBundle(request, tuple(approvals)))  # type: ignore[arg-type]  # fmt: skip
    with activation.session([ShareFile(p) for p in site.hsm.plan.share_files[:3]]) as s:
        s.sign("ksk-demo", b"zone")
    return activation


def _refused(site: Site, request: ApprovalRequest, *approvals: object) -> str:
    with pytest.raises(ApprovalsNotMet) as caught:
        _activate(site, request, *approvals)
    assert caught.value.exit_code == ExitCode.QUORUM
    return str(caught.value)


def test_activation_needs_a_fresh_quorum_of_valid_approvals(site: Site) -> None:
    req = _request(site)
    tcr1 = sign_request(req, "tcr-1", site.keys["tcr-1"])
    by_card = sign_request(req, "rksh-1", site.card)
    # None, or M-1 approvals: refused before any share is read.
    with pytest.raises(ApprovalsNotMet, match="requires 2 remote approval"):
        Activation(site.loaded, ledger=site.ledger, actor=site.ca).quorum()
    assert "2 valid remote approval(s), 1 given" in _refused(site, req, tcr1)
    # A duplicate signer counts once.
    assert "a second approval by tcr-1" in _refused(site, req, tcr1, tcr1)
    # A signer not on the roster (their key signs well, but nobody registered it).
    stranger = sign_request(req, "tcr-9", SoftwareEd25519Signer.generate())
    assert "tcr-9 is not on the roster" in _refused(site, req, tcr1, stranger)
    # A roster id with somebody else's key.
    impostor = sign_request(req, "tcr-2", SoftwareEd25519Signer.generate())
    assert "a key the roster does not record for tcr-2" in _refused(site, req, tcr1, impostor)
    # Staff are not TCRs: their approval does not count.
    staff = sign_request(req, "ca", site.keys["ca"])
    assert "ca is not a TCR" in _refused(site, req, tcr1, staff)
    # An approval of another request (another nonce) does not count for this one.
    other = sign_request(_request(site), "tcr-2", site.keys["tcr-2"])
    assert "signed another request" in _refused(site, req, tcr1, other)
    # Two valid approvals, one from a card: activated, and the event carries them.
    activation = _activate(site, req, tcr1, by_card)
    first = activation.events[0]
    assert first.outcome == "activated"
    assert first.approvals is not None
    assert first.approvals["request_sha256"] == req.sha256
    assert [a["signer"] for a in first.approvals["approvals"]] == ["tcr-1", "rksh-1"]
    # The approvals go with the activation, not with the end of the session.
    assert activation.events[1].kind == "hsm.deactivate" and activation.events[1].approvals is None
    stored = [e for e in site.ledger.history(f"hsm:{site.loaded.hsm.name}")
              if e["payload"].get("outcome") == "activated"]  # fmt: skip
    assert stored[0]["payload"]["approvals"] == first.approvals
    # Not fresh: the same approvals cannot activate a second time.
    assert "already used by audit event" in _refused(site, req, tcr1, by_card)
    # audit verify re-checks both recorded approvals (the card's too) from the log alone,
    # and those each refusal recorded as valid: tcr-1's in the six refusals above, then
    # tcr-1's and the card's in the refused second use (2 + 6 + 2).
    assert site.ledger.verify().statements == 10


def test_an_expired_request_is_refused_and_cannot_be_signed(site: Site) -> None:
    req = _request(site, expires=utcnow() + timedelta(minutes=5))
    approvals = [sign_request(req, t, site.keys[t]) for t in ("tcr-1", "tcr-2")]
    later = utcnow() + timedelta(minutes=6)
    set_clock(lambda: later)
    try:
        assert "expired" in _refused(site, req, *approvals)
        check = check_approvals(req, approvals, ledger_roster(site.ledger))
        assert not check.valid and "expired" in check.rejected[0][1]
        with pytest.raises(ApprovalInvalid, match="expired"):
            sign_request(req, "tcr-3", site.keys["tcr-3"])
    finally:
        set_clock(None)


def test_approval_commands_and_activate_with_approvals(site: Site, tmp_path: Path) -> None:
    env = {"TCR_LEDGER": str(site.ledger.path), "TCR_ACTIVATION_LOG": str(tmp_path / "a.log")}
    for who in ("ca", "tcr-1", "tcr-2"):
        site.keys[who].save(tmp_path / f"{who}.pem")
    cfg = str(site.hsm.config_path)
    req, sig1, sig2 = (tmp_path / n for n in ("req.json", "s1.json", "s2.json"))
    made = run_tcr(["approval", "request", "--config", cfg, "--ceremony", "1", "--hsm",
                    site.loaded.hsm.name, "--purpose", "sign the Q1 SKR", "--expires", "2h",
                    "--output", str(req)], env=env)  # fmt: skip
    assert made.returncode == 0, made.stderr
    doc = json.loads(req.read_bytes())
    assert doc["config_sha256"] == site.loaded.sha256 and len(doc["nonce"]) == 64
    # Signing shows the request and its PGP words and asks for a typed yes.
    sign = ["approval", "sign", str(req), "--key"]
    declined = run_tcr([*sign, str(tmp_path / "tcr-1.pem"), "--as", "tcr-1", "--output",
                        str(sig1)], stdin="no\n")  # fmt: skip
    assert declined.returncode == 1 and not sig1.exists()
    assert "request sha256" in declined.stderr and "type yes" in declined.stderr
    for who, sig in (("tcr-1", sig1), ("tcr-2", sig2)):
        signed = run_tcr([*sign, str(tmp_path / f"{who}.pem"), "--as", who, "--output",
                          str(sig)], stdin="yes\n")  # fmt: skip
        assert signed.returncode == 0, signed.stderr
    one = run_tcr(["approval", "verify", str(req), str(sig1), "--need", "2"], env=env)
    assert one.returncode == 4 and "1 valid approval(s), 2 needed" in one.stdout
    twice = run_tcr(["approval", "verify", str(req), str(sig1), str(sig1), "--json"], env=env)
    assert twice.returncode == 4
    assert json.loads(twice.stdout)["rejected"][0]["reason"].startswith("a second approval")
    both = run_tcr(["approval", "verify", str(req), str(sig1), str(sig2)], env=env)
    assert both.returncode == 0 and "valid: tcr-2" in both.stdout
    # rksh-1 signs with their card (its enrolment record names them and the token).
    pin_file = tmp_path / "rksh-1.pin"
    pin_file.write_text("rksh-1-pin\n")
    pin_file.chmod(0o600)
    sig3 = tmp_path / "s3.json"
    card = run_tcr([*sign[:3], "--card", f"record={tmp_path / 'rksh-1.json'},pin-file={pin_file}",
                    "--pkcs11-module", MODULE, "--output", str(sig3), "--yes"])  # fmt: skip
    assert card.returncode == 0, card.stderr
    assert json.loads(sig3.read_bytes())["signer"] == "rksh-1"
    three = run_tcr(["approval", "verify", str(req), str(sig1), str(sig2), str(sig3)], env=env)
    assert three.returncode == 0 and "valid: rksh-1" in three.stdout
    # tcr hsm activate: exit 4 with one approval, 0 with two.
    zone = tmp_path / "zone.txt"
    zone.write_text("example.\n")
    base = ["hsm", "activate", "--config", cfg, "--as", "ca", "--key", str(tmp_path / "ca.pem"),
            *(f"--in-person=tcr-{i}" for i in (1, 2, 3)),
            *(f"--share={p}" for p in site.hsm.plan.share_files[:3]),
            "--sign-key", "ksk-demo", "--input", str(zone), "--output", str(tmp_path / "z.sig"),
            "--approval-request", str(req)]  # fmt: skip
    short = run_tcr([*base, "--approvals", str(sig1)], env=env)
    assert short.returncode == 4, short.stderr
    assert "requires 2 valid remote approval(s), 1 given" in one_error_line(short)
    done = run_tcr([*base, "--approvals", str(sig1), "--approvals", str(sig2)], env=env)
    assert done.returncode == 0, done.stderr
    with Ledger.open(site.ledger.path, create=False) as led:
        events = [e for e in led.history(f"hsm:{site.loaded.hsm.name}")
                  if e["kind"] == "hsm.activate"]  # fmt: skip
    assert events[-2]["payload"]["outcome"].startswith("refused: ")
    assert [a["signer"] for a in events[-1]["payload"]["approvals"]["approvals"]] == [
        "tcr-1",
        "tcr-2",
    ]


def test_approvals_of_a_request_for_another_ceremony_are_refused_naming_both(site: Site) -> None:
    # A ledger opened afresh names no ceremony of its own: the one open (1) is in force.
    ledger = Ledger.open(site.ledger.path)
    assert ledger.ceremony_number is None
    expires = utcnow() + timedelta(hours=2)
    other = new_request(site.loaded, ceremony=2, purpose="sign the Q1 SKR", expires=expires)
    bundle = ApprovalBundle(other, tuple(sign_request(other, who, site.keys[who])
                                         for who in ("tcr-1", "tcr-2")))  # fmt: skip
    activation = Activation(site.loaded, ledger=ledger, actor=site.ca, in_person=site.holders,
                            approvals=bundle)  # fmt: skip
    with pytest.raises(ApprovalsNotMet) as caught:
        activation.quorum()
    assert str(caught.value) == "the approval request is for ceremony 2, not ceremony 1"
    assert caught.value.exit_code == ExitCode.QUORUM


def test_approvals_given_are_checked_even_where_the_config_requires_none(site: Site) -> None:
    # In the ledger's own ceremony (1), a request for ceremony 2 is refused ...
    assert site.ledger.ceremony_number == 1
    expires = utcnow() + timedelta(hours=2)
    other = new_request(site.loaded, ceremony=2, purpose="sign the Q1 SKR", expires=expires)
    bundle = ApprovalBundle(other, tuple(sign_request(other, who, site.keys[who])
                                         for who in ("tcr-1", "tcr-2")))  # fmt: skip
    with pytest.raises(ApprovalsNotMet) as caught:
        Activation(site.loaded, ledger=site.ledger, actor=site.ca, approvals=bundle).quorum()
    assert str(caught.value) == "the approval request is for ceremony 2, not ceremony 1"
    # ... and approvals given for a configuration that requires none are still checked.
    assert site.hsm.loaded.config.approvals.required == 0
    with pytest.raises(ApprovalsNotMet, match="the approval request is for HSM"):
        Activation(site.hsm.loaded, ledger=site.ledger, actor=site.ca, approvals=bundle).quorum()


def test_a_ledger_naming_its_own_ceremony_checks_approvals_against_that_one(site: Site) -> None:
    # Ceremony 1 is closed and ceremony 2 open; a ledger handle still naming ceremony 1
    # (as a script given --ceremony 1 would) refuses approvals of a request for ceremony 2.
    site.ledger.end_ceremony(site.ca, 1)
    site.ledger.begin_ceremony(site.ca, 2, facility="east")
    site.ledger.use_ceremony(1)
    expires = utcnow() + timedelta(hours=2)
    request = new_request(site.loaded, ceremony=2, purpose="sign the Q1 SKR", expires=expires)
    bundle = ApprovalBundle(request, tuple(sign_request(request, who, site.keys[who])
                                           for who in ("tcr-1", "tcr-2")))  # fmt: skip
    with pytest.raises(ApprovalsNotMet) as caught:
        Activation(site.loaded, ledger=site.ledger, actor=site.ca, approvals=bundle).quorum()
    assert str(caught.value) == "the approval request is for ceremony 2, not ceremony 1"
    # Nor does an activation retag the handle with the open ceremony: it keeps the one named.
    Activation(site.hsm.loaded, ledger=site.ledger, actor=site.ca).quorum()
    assert site.ledger.ceremony_number == 1
