"""``tcr audit verify`` re-checks the signed statements events carry, not only the events'
own signatures: a real emergency override and real remote approvals of a SoftHSM2
activation verify (from the ledger and from a transcript); then an attacker holding the
ledger actor's key rewrites the ``hsm.activate`` payload (a forged, swapped, duplicated,
unknown or revoked staff signature; a forged or duplicated approval), re-signs that event
and re-chains every event after it with the same key. The chain and every event signature
then verify, and the embedded statement is what fails: exit 3 naming that event, for the
log and for a transcript."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest

from tcr_kit.audit.canonical import canonical_bytes
from tcr_kit.audit.chain import AuditIntegrityError
from tcr_kit.audit.signing import SoftwareEd25519Signer, key_id
from tcr_kit.audit.transcript import build_transcript, verify_transcript, write_transcript
from tcr_kit.clock import utcnow
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import Person, Role, build
from tcr_kit.errors import ExitCode, QuorumNotMet
from tcr_kit.hsm.activation import Activation, ShareFile
from tcr_kit.hsm.approval import ApprovalBundle, ApprovalsNotMet, new_request, sign_request
from tcr_kit.hsm.clearance import ActivationOverride, OverrideSignature, sign_override
from tcr_kit.hsm.config import LoadedConfig, load_config
from tcr_kit.hsm.errors import CustodyRefused
from tests.audit_forgery import Payload, forge_ledger, forge_transcript
from tests.fixtures.stack import SoftHsm
from tests.integration.conftest import one_error_line, run_tcr
from tests.integration.hsm_helpers import DemoHsm, custody_ledger, make_hsm, register_shares

pytestmark = pytest.mark.integration


def refused(path: Path, seq: int, why: str, *, transcript: bool = False) -> None:
    """The library and ``tcr audit verify`` both refuse, naming event ``seq`` and ``why``."""
    with pytest.raises(AuditIntegrityError) as caught:
        if transcript:
            verify_transcript(path)
        else:
            with Ledger.open(path, create=False) as led:
                led.verify()
    assert caught.value.seq == seq and why in caught.value.reason
    args = ["audit", "verify", *(["--transcript", str(path)] if transcript else [])]
    proc = run_tcr(args, env={} if transcript else {"TCR_LEDGER": str(path)})
    assert proc.returncode == ExitCode.INTEGRITY, proc.stderr
    line = one_error_line(proc)
    assert f"event {seq}:" in line and why in line


def export(ledger: Ledger, path: Path) -> Path:
    write_transcript(build_transcript(ledger.audit), path)
    return path


def verified(ledger: Ledger, transcript: Path) -> tuple[int, int]:
    """How many statements the ledger's and the transcript's verification re-checked (the
    CLI's JSON report says the same)."""
    proc = run_tcr(["audit", "verify", "--json"], env={"TCR_LEDGER": str(ledger.path)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["statements"] == ledger.verify().statements
    return ledger.verify().statements, verify_transcript(transcript).report.statements


def _activate_seq(ledger: Ledger, hsm: str) -> int:
    events = [e for e in ledger.history(f"hsm:{hsm}") if e["kind"] == "hsm.activate"]
    assert events[-1]["payload"]["outcome"] == "activated"
    return int(events[-1]["seq"])


# -- an emergency override ----------------------------------------------------------------------


@dataclass
class OverrideSite:
    hsm: DemoHsm
    ledger: Ledger
    ca: Actor
    keys: dict[str, SoftwareEd25519Signer]
    old_iw: SoftwareEd25519Signer
    """iw-1's first key, revoked (``tcr roster rekey``) before the activation."""
    revoked_at: int
    override: ActivationOverride
    seq: int
    """The ``hsm.activate`` event carrying the override."""
    transcript: Path


@pytest.fixture
def override_site(softhsm: SoftHsm, tmp_path: Path) -> OverrideSite:
    """Ceremony 1: tcr-2 and tcr-3 present their shares in person; share 1 (tcr-1's) is not
    accounted for, so staff ca and iw-1 sign an override for it; the activation signs."""
    hsm = make_hsm(tmp_path, softhsm)
    set_id = hsm.loaded.share_set.id
    keys: dict[str, SoftwareEd25519Signer] = {}
    ledger, ca = custody_ledger(tmp_path / "ledger.sqlite", set_id, keys=keys)
    register_shares(ledger, ca, set_id, 5)
    sa = Actor("sa", keys["sa"])
    old_iw = SoftwareEd25519Signer.generate()
    ledger.add_person(
        sa,
        build(Person, id="iw-1", name="IW 1", roles=(Role.IW,), key_algorithm="ed25519",
              public_key=old_iw.public_key_bytes().hex()),
    )  # fmt: skip
    keys["iw-1"] = SoftwareEd25519Signer.generate()
    ledger.replace_key(sa, "iw-1", keys["iw-1"].public_key_bytes())
    revoked_at = int(ledger.last_events[0].seq)
    loaded = hsm.loaded
    override = sign_override(
        ledger, loaded.hsm.name, loaded.sha256, [f"{set_id}-1"], "tcr-1 is ill; card examined",
        [ca, Actor("iw-1", keys["iw-1"])],
    )  # fmt: skip
    activation = Activation(loaded, ledger=ledger, actor=ca, in_person=("tcr-2", "tcr-3"),
                            override=override)  # fmt: skip
    with activation.session([ShareFile(p) for p in hsm.plan.share_files[:3]]) as s:
        s.sign("ksk-demo", b"zone")
    assert activation.events[0].presented[0].custody_basis == "override"
    seq = _activate_seq(ledger, loaded.hsm.name)
    transcript = export(ledger, tmp_path / "transcript.json")
    return OverrideSite(hsm, ledger, ca, keys, old_iw, revoked_at, override, seq, transcript)


def test_a_genuine_override_verifies_with_the_signers_keys_at_that_event(
    override_site: OverrideSite,
) -> None:
    site = override_site
    # iw-1 signed with the key registered after the old one was revoked: that is the key
    # in force at the activation, and it verifies.
    assert site.revoked_at < site.seq
    assert verified(site.ledger, site.transcript) == (1, 1)
    human = run_tcr(["audit", "verify"], env={"TCR_LEDGER": str(site.ledger.path)})
    assert "signed statements in events" in human.stdout and "1 verified" in human.stdout


def _signatures(edit: Callable[[list[Payload]], None]) -> Callable[[Payload], None]:
    def apply(payload: Payload) -> None:
        edit(payload["override"]["signatures"])

    return apply


def _forged(sigs: list[Payload]) -> None:
    sigs[1]["signature"] = "5a" * 64


def _swapped(sigs: list[Payload]) -> None:
    sigs[0]["signature"], sigs[1]["signature"] = sigs[1]["signature"], sigs[0]["signature"]


def _twice(sigs: list[Payload]) -> None:
    sigs[1] = dict(sigs[0])


def _dropped(sigs: list[Payload]) -> None:
    del sigs[1]


def _stranger(sigs: list[Payload]) -> None:
    sigs[1]["person"] = "iw-9"


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (_forged, "the override signature of iw-1 does not verify"),
        (_swapped, "the override signature of ca does not verify"),
        (_twice, "the override is signed twice by ca"),
        (_dropped, "the override carries 1 signature(s); two different people must sign"),
        (_stranger, "the override signer iw-9 has no key registered before this event"),
    ],
    ids=["forged", "swapped", "same-person-twice", "one-signature", "unknown-signer"],
)
def test_an_override_rewritten_with_the_actors_key_fails_verification_naming_its_event(
    override_site: OverrideSite, edit: Callable[[list[Payload]], None], why: str
) -> None:
    site = override_site
    forgery = _signatures(edit)
    refused(forge_ledger(site.ledger.path, site.seq, forgery, site.keys["ca"]), site.seq, why)
    forged = forge_transcript(site.transcript, site.seq, forgery, site.keys["ca"])
    refused(forged, site.seq, why, transcript=True)


def test_an_activation_refuses_an_override_signed_twice_by_one_person(
    override_site: OverrideSite,
) -> None:
    site = override_site
    once = site.override.signatures[0]
    twice = ActivationOverride(site.override.statement, (once, once))
    activation = Activation(site.hsm.loaded, ledger=site.ledger, actor=site.ca,
                            in_person=("tcr-2", "tcr-3"), override=twice)  # fmt: skip
    files = [ShareFile(p) for p in site.hsm.plan.share_files[:3]]
    with (
        pytest.raises(CustodyRefused, match="the override is signed twice by ca"),
        activation.session(files),
    ):
        pass
    last = site.ledger.history(f"hsm:{site.hsm.loaded.hsm.name}")[-1]
    assert last["payload"]["outcome"].startswith("refused: ") and last["payload"]["override"]
    # The refusal is recorded with the override it refused and its verdict on it, naming
    # the signature it rejected by its place in the list: ca's second one. That one is not
    # re-checked; the statement and ca's first signature are.
    assert last["payload"]["override"]["rejected"] == [
        {"index": 1, "person": "ca", "reason": "the override is signed twice by ca"}
    ]
    assert last["payload"]["verdict_form"] == 2
    assert site.ledger.verify().statements == 2


def test_a_person_signing_the_override_twice_has_only_the_rejected_signature_skipped(
    override_site: OverrideSite,
) -> None:
    """ca's first signature in an override signed twice by ca held; the refusal rejects the
    second only, so a forger who rewrites the first is caught. A log as earlier versions
    wrote it (``rejected`` naming the person only) still skips all of that person's."""
    site = override_site
    once = site.override.signatures[0]
    twice = ActivationOverride(site.override.statement, (once, once))
    activation = Activation(site.hsm.loaded, ledger=site.ledger, actor=site.ca,
                            in_person=("tcr-2", "tcr-3"), override=twice)  # fmt: skip
    with pytest.raises(CustodyRefused), activation.session([]):
        pass
    seq, _ = _last_refusal(site.ledger, site.hsm.loaded.hsm.name)

    def first_forged(sigs: list[Payload]) -> None:
        sigs[0]["signature"] = "5a" * 64

    key = site.keys["ca"]
    why = "the override signature of ca does not verify"
    refused(forge_ledger(site.ledger.path, seq, _signatures(first_forged), key), seq, why)
    transcript = export(site.ledger, site.transcript.with_name("twice.json"))
    refused(forge_transcript(transcript, seq, _signatures(first_forged), key), seq, why,
            transcript=True)  # fmt: skip
    old = _as_old_version(site.ledger, site.hsm.loaded.hsm.name, key)
    with Ledger.open(forge_ledger(old, seq, _signatures(first_forged), key), create=False) as led:
        assert led.verify().statements == 2  # the refusal's: every signature of ca skipped


def test_an_override_statement_widened_after_signing_fails(override_site: OverrideSite) -> None:
    site = override_site

    def widened(payload: Payload) -> None:
        payload["override"]["statement"]["credentials"].append("another-card")

    why = "the override signature of ca does not verify"
    refused(forge_ledger(site.ledger.path, site.seq, widened, site.keys["ca"]), site.seq, why)
    forged = forge_transcript(site.transcript, site.seq, widened, site.keys["ca"])
    refused(forged, site.seq, why, transcript=True)


def test_an_override_signature_by_a_key_revoked_before_the_event_fails(
    override_site: OverrideSite, tmp_path: Path
) -> None:
    site = override_site
    message = site.override.statement.message()
    by_old_key = site.old_iw.sign(message).hex()

    def revoked(sigs: list[Payload]) -> None:
        assert sigs[1]["person"] == "iw-1"
        sigs[1]["signature"] = by_old_key

    why = f"is by their key {key_id(site.old_iw.public_key_bytes())}, revoked at event"
    forged = forge_ledger(site.ledger.path, site.seq, _signatures(revoked), site.keys["ca"])
    refused(forged, site.seq, why)
    # The forged log cannot be exported either: the export verifies first.
    with Ledger.open(forged, create=False) as led, pytest.raises(AuditIntegrityError):
        export(led, tmp_path / "never.json")
    assert not (tmp_path / "never.json").exists()
    again = forge_transcript(site.transcript, site.seq, _signatures(revoked), site.keys["ca"])
    refused(again, site.seq, why, transcript=True)


# -- remote approvals ---------------------------------------------------------------------------


@dataclass
class ApprovalSite:
    loaded: LoadedConfig
    ledger: Ledger
    keys: dict[str, SoftwareEd25519Signer]
    seq: int
    transcript: Path


@pytest.fixture
def approval_site(softhsm: SoftHsm, tmp_path: Path) -> ApprovalSite:
    """An HSM requiring 2 approvals, activated with those of tcr-4 and tcr-5 and a third
    from somebody not on the roster (presented, not counted)."""
    hsm = make_hsm(tmp_path, softhsm)
    with hsm.config_path.open("a") as fh:
        fh.write("\n[approvals]\nrequired = 2\n")
    loaded = load_config(hsm.config_path)
    keys: dict[str, SoftwareEd25519Signer] = {}
    ledger, ca = custody_ledger(tmp_path / "ledger.sqlite", loaded.share_set.id, keys=keys)
    holders = register_shares(ledger, ca, loaded.share_set.id, 5)
    request = new_request(loaded, ceremony=1, purpose="sign the Q1 SKR",
                          expires=utcnow() + timedelta(hours=2))  # fmt: skip
    approvals = [sign_request(request, who, keys[who]) for who in ("tcr-4", "tcr-5")]
    approvals.append(sign_request(request, "tcr-9", SoftwareEd25519Signer.generate()))
    activation = Activation(loaded, ledger=ledger, actor=ca, in_person=holders,
                            approvals=ApprovalBundle(request, tuple(approvals)))  # fmt: skip
    with activation.session([ShareFile(p) for p in hsm.plan.share_files[:3]]) as s:
        s.sign("ksk-demo", b"zone")
    seq = _activate_seq(ledger, loaded.hsm.name)
    transcript = export(ledger, tmp_path / "transcript.json")
    return ApprovalSite(loaded, ledger, keys, seq, transcript)


def test_genuine_approvals_verify_and_the_uncounted_one_is_recorded_as_rejected(
    approval_site: ApprovalSite,
) -> None:
    site = approval_site
    (event,) = [e for e in site.ledger.history(f"hsm:{site.loaded.hsm.name}")
                if e["seq"] == site.seq]  # fmt: skip
    recorded = event["payload"]["approvals"]
    assert [a["signer"] for a in recorded["approvals"]] == ["tcr-4", "tcr-5"]
    assert recorded["rejected"] == [{"signer": "tcr-9", "reason": "tcr-9 is not on the roster"}]
    assert verified(site.ledger, site.transcript) == (2, 2)


def _approvals(edit: Callable[[list[Payload]], None]) -> Callable[[Payload], None]:
    def apply(payload: Payload) -> None:
        edit(payload["approvals"]["approvals"])

    return apply


def _forged_approval(approvals: list[Payload]) -> None:
    approvals[1]["signature"] = "5a" * 64


def _duplicate_approval(approvals: list[Payload]) -> None:
    approvals[1] = dict(approvals[0])


def _unregistered_key(approvals: list[Payload]) -> None:
    stranger = SoftwareEd25519Signer.generate()
    approvals[1]["public_key"] = stranger.public_key_bytes().hex()
    body = {k: v for k, v in approvals[1].items() if k != "signature"}
    approvals[1]["signature"] = stranger.sign(canonical_bytes(body)).hex()


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (_forged_approval, "the approval signature of tcr-5 does not verify"),
        (_duplicate_approval, "a second approval by tcr-4"),
        (_unregistered_key, "the approval of tcr-5 names key"),
    ],
    ids=["forged", "duplicate", "key-not-theirs"],
)
def test_an_approval_rewritten_with_the_actors_key_fails_verification_naming_its_event(
    approval_site: ApprovalSite, edit: Callable[[list[Payload]], None], why: str
) -> None:
    site = approval_site
    forgery = _approvals(edit)
    key = site.keys["ca"]
    refused(forge_ledger(site.ledger.path, site.seq, forgery, key), site.seq, why)
    forged = forge_transcript(site.transcript, site.seq, forgery, key)
    refused(forged, site.seq, why, transcript=True)


# -- the statements of a refused activation ----------------------------------------------------


def _last_refusal(ledger: Ledger, hsm: str) -> tuple[int, Payload]:
    last = ledger.history(f"hsm:{hsm}")[-1]
    assert last["kind"] == "hsm.activate" and last["payload"]["outcome"].startswith("refused: ")
    return int(last["seq"]), last["payload"]


def _refused_with_iw_signature(
    site: OverrideSite, iw_sig: OverrideSignature, match: str
) -> tuple[int, Payload]:
    """An activation under the site's override with iw-1's signature replaced by ``iw_sig``,
    refused with ``match``; the refusal's seq and payload."""
    ca_sig, _ = site.override.signatures
    override = ActivationOverride(site.override.statement, (ca_sig, iw_sig))
    activation = Activation(site.hsm.loaded, ledger=site.ledger, actor=site.ca,
                            in_person=("tcr-2", "tcr-3"), override=override)  # fmt: skip
    files = [ShareFile(p) for p in site.hsm.plan.share_files[:3]]
    with pytest.raises(CustodyRefused, match=match), activation.session(files):
        pass
    return _last_refusal(site.ledger, site.hsm.loaded.hsm.name)


@pytest.fixture
def refused_override(override_site: OverrideSite, tmp_path: Path) -> OverrideSite:
    """The override site, then a second activation with the same genuine override refused
    for another reason (two shares of three: exit 4); ``seq``/``transcript`` name it."""
    site = override_site
    activation = Activation(site.hsm.loaded, ledger=site.ledger, actor=site.ca,
                            in_person=("tcr-2", "tcr-3"), override=site.override)  # fmt: skip
    with (
        pytest.raises(QuorumNotMet),
        activation.session([ShareFile(p) for p in site.hsm.plan.share_files[:2]]),
    ):
        pass
    site.seq, payload = _last_refusal(site.ledger, site.hsm.loaded.hsm.name)
    assert payload["override"]["rejected"] == []  # both signatures held
    site.transcript = export(site.ledger, tmp_path / "refused.json")
    return site


def test_a_refused_activations_override_is_rechecked_where_it_recorded_its_verdict(
    refused_override: OverrideSite,
) -> None:
    assert verified(refused_override.ledger, refused_override.transcript) == (2, 2)


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (_forged, "the override signature of iw-1 does not verify"),
        (_swapped, "the override signature of ca does not verify"),
        (_stranger, "the override signer iw-9 has no key registered before this event"),
    ],
    ids=["forged", "swapped", "unknown-signer"],
)
def test_a_refused_activations_override_rewritten_with_the_actors_key_fails(
    refused_override: OverrideSite, edit: Callable[[list[Payload]], None], why: str
) -> None:
    site = refused_override
    forgery = _signatures(edit)
    refused(forge_ledger(site.ledger.path, site.seq, forgery, site.keys["ca"]), site.seq, why)
    forged = forge_transcript(site.transcript, site.seq, forgery, site.keys["ca"])
    refused(forged, site.seq, why, transcript=True)


def test_a_refused_activations_override_statement_tampered_with_fails(
    refused_override: OverrideSite,
) -> None:
    site = refused_override

    def widened(payload: Payload) -> None:
        payload["override"]["statement"]["reason"] = "routine; nobody is ill"

    why = "the override signature of ca does not verify"
    refused(forge_ledger(site.ledger.path, site.seq, widened, site.keys["ca"]), site.seq, why)
    forged = forge_transcript(site.transcript, site.seq, widened, site.keys["ca"])
    refused(forged, site.seq, why, transcript=True)


def test_a_refused_override_rejects_only_the_signature_that_failed(
    override_site: OverrideSite,
) -> None:
    """An override whose iw-1 signature is bad is refused; the refusal records that verdict,
    and the verifier still re-checks ca's signature (and only it)."""
    site = override_site
    bad = replace(site.override.signatures[1], signature="5a" * 64)
    seq, payload = _refused_with_iw_signature(
        site, bad, "override signature of iw-1 does not verify"
    )
    assert [r["person"] for r in payload["override"]["rejected"]] == ["iw-1"]
    assert site.ledger.verify().statements == 2

    def ca_forged(sigs: list[Payload]) -> None:
        sigs[0]["signature"] = "5a" * 64

    forged = forge_ledger(site.ledger.path, seq, _signatures(ca_forged), site.keys["ca"])
    refused(forged, seq, "the override signature of ca does not verify")


def test_an_override_signature_labelled_with_another_algorithm_is_rejected_as_the_verifier_would(
    override_site: OverrideSite,
) -> None:
    """The verifier checks an override signature only under a key of the algorithm the
    signature names; the activation must judge it so too. A signature that verifies under
    the signer's roster key but names another algorithm is refused and recorded as
    rejected, so the honest log still verifies (it used to be accepted, and the log then
    failed ``tcr audit verify`` with exit 3 though nobody had touched it)."""
    site = override_site
    iw_sig = site.override.signatures[1]
    assert iw_sig.algorithm == "ed25519"
    mislabelled = replace(iw_sig, algorithm="ecdsa-p256-sha256")
    _, payload = _refused_with_iw_signature(
        site, mislabelled, "override signature of iw-1 names ecdsa-p256"
    )
    assert [(r["index"], r["person"]) for r in payload["override"]["rejected"]] == [(1, "iw-1")]
    assert site.ledger.verify().statements == 2  # ca's signature re-checked, iw-1's skipped
    proc = run_tcr(["audit", "verify"], env={"TCR_LEDGER": str(site.ledger.path)})
    assert proc.returncode == 0, proc.stderr


def _as_old_version(ledger: Ledger, hsm: str, key: SoftwareEd25519Signer) -> Path:
    """A copy of ``ledger`` as tcr-kit wrote it before verdicts named the signature they
    reject (no ``verdict_form``, ``rejected`` naming the person only): each ``hsm.activate``
    event rewritten so, and the log re-chained."""

    def old_form(payload: Payload) -> None:
        payload.pop("verdict_form", None)
        for item in (payload.get("override") or {}).get("rejected", ()):
            item.pop("index", None)

    path = ledger.path
    for event in ledger.history(f"hsm:{hsm}"):
        if event["kind"] == "hsm.activate" and "verdict_form" in event["payload"]:
            path = forge_ledger(path, int(event["seq"]), old_form, key)
    return path


def _no_verdict(forge: Callable[[list[Payload]], None]) -> Callable[[Payload], None]:
    """A refused activation's override rewritten by ``forge``, its verdict dropped."""

    def apply(payload: Payload) -> None:
        payload.pop("verdict_form", None)
        del payload["override"]["rejected"]
        forge(payload["override"]["signatures"])

    return apply


def test_a_refused_activation_recorded_without_a_verdict_verifies_as_before(
    refused_override: OverrideSite,
) -> None:
    """Refused activations recorded before the verdict was kept carry no ``rejected``:
    they may hold the very signatures that failed, and are not re-checked, in a log that
    holds no event recorded with ``verdict_form`` before them (a log of an earlier
    version), even after a refused activation that did record a verdict (as the override
    signature refusal of earlier versions did not)."""
    site = refused_override
    activation = Activation(site.hsm.loaded, ledger=site.ledger, actor=site.ca,
                            in_person=("tcr-2", "tcr-3"), override=site.override)  # fmt: skip
    with pytest.raises(QuorumNotMet), activation.session([]):
        pass
    last, payload = _last_refusal(site.ledger, site.hsm.loaded.hsm.name)
    assert payload["verdict_form"] == 2 and payload["override"]["rejected"] == []
    name = site.hsm.loaded.hsm.name
    old = _as_old_version(site.ledger, name, site.keys["ca"])
    with Ledger.open(old, create=False) as led:
        assert led.verify().statements == 3
        (first,) = [e["payload"] for e in led.history(f"hsm:{name}") if e["seq"] == site.seq]
        assert "verdict_form" not in first and first["override"]["rejected"] == []
    unchecked = forge_ledger(old, last, _no_verdict(_forged), site.keys["ca"])
    with Ledger.open(unchecked, create=False) as led:
        assert led.verify().statements == 2  # the last refusal is not re-checked


def test_a_refused_activation_after_one_recorded_with_a_verdict_must_carry_its_verdict(
    refused_override: OverrideSite,
) -> None:
    """Once the log holds an ``hsm.activate`` recorded with ``verdict_form``, a later
    refused one whose override (or approvals) has no ``rejected`` fails verification: a
    forger holding the actor's key cannot drop the verdict to escape the re-check."""
    site = refused_override
    key = site.keys["ca"]
    why = "a refused activation after event"
    forgery = _no_verdict(_forged)
    refused(forge_ledger(site.ledger.path, site.seq, forgery, key), site.seq, why)
    refused(forge_transcript(site.transcript, site.seq, forgery, key), site.seq, why,
            transcript=True)  # fmt: skip
    # Keeping verdict_form while dropping `rejected` fails the same way.

    def marker_kept(payload: Payload) -> None:
        del payload["override"]["rejected"]

    refused(forge_ledger(site.ledger.path, site.seq, marker_kept, key), site.seq,
            "records its override without a verdict")  # fmt: skip


def test_a_receipt_applies_the_verdict_rule_among_its_events(
    refused_override: OverrideSite,
) -> None:
    """tcr-2 presented a share at both activations: their receipt holds the accepted one
    (recorded with ``verdict_form``) and the refusal; a forger who drops the refusal's
    verdict and signs a checkpoint of the forged log is caught by the receipt's check."""
    from tcr_kit.audit.receipt import (
        ReceiptInvalid,
        build_receipt,
        check_receipt,
        ledger_verifiers,
    )
    from tcr_kit.audit.treehead import log_tree, sign_tree_head

    site = refused_override
    origin = "example.org/tcr-kit-test"

    def receipt(path: Path) -> None:
        with Ledger.open(path, create=False) as led:
            note = sign_tree_head(log_tree(led.audit), site.keys["ca"], origin).note
            doc = build_receipt(led.audit, "tcr-2", note)
            verifiers = ledger_verifiers(led.audit, [origin])
        assert site.seq in [e["seq"] for e in doc["events"]]
        check_receipt(doc, verifiers)

    receipt(site.ledger.path)
    forged = forge_ledger(site.ledger.path, site.seq, _no_verdict(_forged), site.keys["ca"])
    with pytest.raises(ReceiptInvalid, match=f"receipt: event {site.seq}: a refused activation"):
        receipt(forged)


def test_refused_approvals_are_rechecked_where_the_refusal_recorded_its_verdict(
    approval_site: ApprovalSite, tmp_path: Path
) -> None:
    """Two approvals needed, one valid given (and one by a stranger): refused with exit 4,
    the valid one recorded as counted; it is re-checked, and a forger's rewrite fails."""
    site = approval_site
    request = new_request(site.loaded, ceremony=1, purpose="sign the Q2 SKR",
                          expires=utcnow() + timedelta(hours=2))  # fmt: skip
    given = (sign_request(request, "tcr-4", site.keys["tcr-4"]),
             sign_request(request, "tcr-9", SoftwareEd25519Signer.generate()))  # fmt: skip
    ca = Actor("ca", site.keys["ca"])
    activation = Activation(site.loaded, ledger=site.ledger, actor=ca,
                            approvals=ApprovalBundle(request, given))  # fmt: skip
    with (
        pytest.raises(ApprovalsNotMet, match="requires 2 valid remote approval"),
        activation.session([]),
    ):
        pass
    seq, payload = _last_refusal(site.ledger, site.loaded.hsm.name)
    assert [a["signer"] for a in payload["approvals"]["approvals"]] == ["tcr-4"]
    assert payload["approvals"]["rejected"] == [
        {"signer": "tcr-9", "reason": "tcr-9 is not on the roster"}
    ]
    transcript = export(site.ledger, tmp_path / "refused-approvals.json")
    assert verified(site.ledger, transcript) == (3, 3)
    key = site.keys["ca"]
    why = "the approval signature of tcr-4 does not verify"
    refused(forge_ledger(site.ledger.path, seq, _approvals(_forged_first), key), seq, why)
    forged = forge_transcript(transcript, seq, _approvals(_forged_first), key)
    refused(forged, seq, why, transcript=True)

    def tampered(payload: Payload) -> None:
        payload["approvals"]["approvals"][0]["signed_at"] = "2020-01-01T00:00:00Z"

    refused(forge_ledger(site.ledger.path, seq, tampered, key), seq, why)

    # Its verdict cannot be dropped either: the accepted activation before it was recorded
    # with verdict_form.
    def no_verdict(payload: Payload) -> None:
        payload.pop("verdict_form", None)
        del payload["approvals"]["rejected"]
        _forged_first(payload["approvals"]["approvals"])

    why = "a refused activation after event"
    refused(forge_ledger(site.ledger.path, seq, no_verdict, key), seq, why)


def _forged_first(approvals: list[Payload]) -> None:
    approvals[0]["signature"] = "5a" * 64


def test_a_refusal_after_the_approvals_were_replaced_records_its_verdict_on_the_new_ones(
    approval_site: ApprovalSite,
) -> None:
    """A script retries with a new request and new approvals after a refusal
    (``activation.approvals = ...``), and the next attempt is refused before the activation
    examined them (``record_refusal``, or a staff card refusing to sign the override). The
    event must carry the verdict on the approvals it records, not the previous attempt's:
    that one lists approvals of the old request under the new one, and the honest log
    then failed ``tcr audit verify`` (exit 3, "of another request")."""
    site = approval_site
    ca = Actor("ca", site.keys["ca"])

    def bundle(purpose: str, *who: str) -> ApprovalBundle:
        request = new_request(site.loaded, ceremony=1, purpose=purpose,
                              expires=utcnow() + timedelta(hours=2))  # fmt: skip
        return ApprovalBundle(request, tuple(sign_request(request, w, site.keys[w]) for w in who))

    activation = Activation(site.loaded, ledger=site.ledger, actor=ca,
                            approvals=bundle("first try", "tcr-4"))  # fmt: skip
    with pytest.raises(ApprovalsNotMet), activation.session([]):
        pass
    activation.approvals = bundle("second try", "tcr-4", "tcr-5")
    activation.record_refusal(None, CustodyRefused("the operator stopped"), "collect")
    _, payload = _last_refusal(site.ledger, site.loaded.hsm.name)
    recorded = payload["approvals"]
    assert recorded["request"]["purpose"] == "second try"
    assert [a["signer"] for a in recorded["approvals"]] == ["tcr-4", "tcr-5"]
    assert {a["request_sha256"] for a in recorded["approvals"]} == {recorded["request_sha256"]}
    assert site.ledger.verify().statements == 2 + 1 + 2


# -- who an activation concerns, in the timeline ------------------------------------------------


def _shown(transcript: Path, person: str) -> tuple[list[Payload], str]:
    """``tcr audit show --person`` of ``transcript``: the JSON entries and the human text."""
    args = ["audit", "show", str(transcript), "--person", person]
    data = run_tcr([*args, "--json"])
    human = run_tcr(args)
    assert data.returncode == 0 and human.returncode == 0, data.stderr + human.stderr
    return json.loads(data.stdout)["entries"], human.stdout


def test_audit_show_person_finds_the_override_signers_and_the_rejected_one_marked_so(
    override_site: OverrideSite, tmp_path: Path
) -> None:
    """iw-1 is neither the actor nor a subject of an activation whose override they signed:
    ``tcr audit show --person iw-1`` must still list it (the override text ends with its
    reason, so matching on "by iw-1" never did). A refused activation that rejected iw-1's
    signature is listed too, showing iw-1 as rejected, never as overriding."""
    site = override_site
    ca_sig, iw_sig = site.override.signatures
    bad = ActivationOverride(
        site.override.statement, (ca_sig, replace(iw_sig, signature="5a" * 64))
    )
    activation = Activation(site.hsm.loaded, ledger=site.ledger, actor=site.ca,
                            in_person=("tcr-2", "tcr-3"), override=bad)  # fmt: skip
    with pytest.raises(CustodyRefused), activation.session([]):
        pass
    refused_seq, _ = _last_refusal(site.ledger, site.hsm.loaded.hsm.name)
    transcript = export(site.ledger, tmp_path / "both.json")

    entries, human = _shown(transcript, "iw-1")
    mine = {e["seq"]: e for e in entries if e["action"] == "hsm.activate"}
    assert set(mine) == {site.seq, refused_seq}
    assert {"person": "iw-1", "statement": "override", "verdict": "held", "reason": None} in (
        mine[site.seq]["signers"]
    )
    (rejected,) = [s for s in mine[refused_seq]["signers"] if s["person"] == "iw-1"]
    assert rejected["verdict"] == "rejected" and "does not verify" in rejected["reason"]
    assert "overridden by ca, iw-1: tcr-1 is ill; card examined" in mine[site.seq]["overrides"][0]
    assert "overridden by ca (rejected: iw-1): tcr-1 is ill" in mine[refused_seq]["overrides"][0]
    assert human.count("    override:  custody of") == 2
    assert "overridden by ca (rejected: iw-1)" in human
    # Nobody else is swept in by a name that only appears in the reason's wording: tcr-1,
    # whom both reasons name, is found where their share was presented, not at the refusal
    # (which read no share), and never as a signer.
    others, _ = _shown(transcript, "tcr-1")
    theirs = [e for e in others if e["action"] == "hsm.activate"]
    assert [e["seq"] for e in theirs] == [site.seq]
    assert "tcr-1" not in [s["person"] for s in theirs[0]["signers"]]


def test_audit_show_person_finds_approvers_counted_and_rejected(
    approval_site: ApprovalSite, tmp_path: Path
) -> None:
    """A remote approver is in the activation they approved; one whose approval was not
    counted sees it too, marked as rejected with the reason the event gives."""
    site = approval_site
    for person, verdict in (("tcr-4", "held"), ("tcr-9", "rejected")):
        entries, human = _shown(site.transcript, person)
        (event,) = [e for e in entries if e["seq"] == site.seq]
        (signer,) = [s for s in event["signers"] if s["person"] == person]
        assert (signer["statement"], signer["verdict"]) == ("approval", verdict)
        assert event["approvals"] == ["approved by tcr-4, tcr-5 (rejected: tcr-9): sign the Q1 SKR"]
        assert "    approvals: approved by tcr-4, tcr-5 (rejected: tcr-9)" in human
    (stranger,) = [s for s in event["signers"] if s["person"] == "tcr-9"]
    assert stranger["reason"] == "tcr-9 is not on the roster"


# -- which events concern a person: one rule for receipts and 'tcr audit show --person' ------


_ORIGIN = "example.org/tcr-kit-test"


def _receipt_seqs(ledger_path: Path, signer: SoftwareEd25519Signer, person: str) -> list[int]:
    """A receipt for ``person`` against a checkpoint of the whole log (signed with
    ``signer``, a registered key), checked offline as 'tcr audit check-receipt' checks it;
    the seqs it holds. It carries the key registration of every signer of a statement
    re-checked inside its events."""
    from tcr_kit.audit.canonical import parse_canonical
    from tcr_kit.audit.receipt import build_receipt, check_receipt, ledger_verifiers
    from tcr_kit.audit.statements import statement_signers
    from tcr_kit.audit.treehead import log_tree, sign_tree_head

    with Ledger.open(ledger_path, create=False) as led:
        note = sign_tree_head(log_tree(led.audit), signer, _ORIGIN).note
        doc = build_receipt(led.audit, person, note)
        verifiers = ledger_verifiers(led.audit, [_ORIGIN])
    checked = check_receipt(doc, verifiers)
    assert [e.seq for e in checked.events] == [e["seq"] for e in doc["events"]]
    owners = {json.loads(k["body"])["payload"]["owner"] for k in doc["keys"]}
    for event in doc["events"]:
        assert statement_signers(parse_canonical(event["body"].encode())) <= owners
    return [int(e["seq"]) for e in doc["events"]]


def _refuse_with_iw1_rejected(site: OverrideSite) -> int:
    """An activation refused because iw-1's override signature does not verify: the event
    records it as rejected (ca's signature held). Returns its seq."""
    ca_sig, iw_sig = site.override.signatures
    bad = ActivationOverride(
        site.override.statement, (ca_sig, replace(iw_sig, signature="5a" * 64))
    )
    activation = Activation(site.hsm.loaded, ledger=site.ledger, actor=site.ca,
                            in_person=("tcr-2", "tcr-3"), override=bad)  # fmt: skip
    with pytest.raises(CustodyRefused), activation.session([]):
        pass
    seq, payload = _last_refusal(site.ledger, site.hsm.loaded.hsm.name)
    assert [r["person"] for r in payload["override"]["rejected"]] == ["iw-1"]
    return seq


def test_a_receipt_for_an_override_signer_holds_the_activation_they_signed_for_and_checks(
    override_site: OverrideSite,
) -> None:
    """iw-1 is neither the actor nor a subject of the activation whose override they signed;
    their receipt holds it, and check-receipt re-checks both override signatures under the
    key registrations the receipt carries (iw-1's replaced key included)."""
    site = override_site
    assert site.seq in _receipt_seqs(site.ledger.path, site.keys["ca"], "iw-1")


def test_a_receipt_for_a_rejected_override_signer_holds_the_refusal_and_checks(
    override_site: OverrideSite,
) -> None:
    """Where iw-1's signature was rejected, the refusal concerns them too: their receipt
    holds it and checks (the rejected signature is not re-checked, ca's is)."""
    site = override_site
    refused_seq = _refuse_with_iw1_rejected(site)
    seqs = _receipt_seqs(site.ledger.path, site.keys["ca"], "iw-1")
    assert {site.seq, refused_seq} <= set(seqs)


def test_a_receipt_for_an_approver_holds_the_activation_and_checks(
    approval_site: ApprovalSite,
) -> None:
    """tcr-4 approved from home (presented no share): their receipt holds the activation;
    so does that of tcr-9, whose approval was not counted (nobody's key to carry)."""
    site = approval_site
    for person in ("tcr-4", "tcr-9"):
        assert site.seq in _receipt_seqs(site.ledger.path, site.keys["ca"], person), person


def test_audit_show_person_finds_a_share_presenter(override_site: OverrideSite) -> None:
    """tcr-2 presented a share in person: 'tcr audit show --person tcr-2' lists the
    activation, as tcr-2's receipt does."""
    site = override_site
    entries, human = _shown(site.transcript, "tcr-2")
    assert site.seq in [e["seq"] for e in entries]
    assert f"  #{site.seq}  hsm.activate  by ca" in human
    assert site.seq in _receipt_seqs(site.ledger.path, site.keys["ca"], "tcr-2")


def test_a_manifest_signer_finds_the_registration_in_their_receipt_and_timeline(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    """sa signs the HSM's split manifest ('tcr shares sign'), ca registers it ('tcr shares
    register'): the share-set.manifest event, by ca, concerns sa, its signer. Their receipt
    holds it and checks (re-checking the manifest signature), and 'tcr audit show --person
    sa' lists it."""
    from tests.integration.hsm_helpers import manifest_signed_by_sa

    hsm, path, keys = manifest_signed_by_sa(tmp_path, softhsm)
    set_id = hsm.loaded.share_set.id
    with Ledger.open(path, create=False) as led:
        (event,) = [e for e in led.history(f"share-set:{set_id}")
                    if e["kind"] == "share-set.manifest"]  # fmt: skip
        assert event["actor"] == "ca" and event["payload"]["manifest"]["signer"]["id"] == "sa"
        transcript = export(led, tmp_path / "transcript.json")
    seq = int(event["seq"])
    assert seq in _receipt_seqs(path, keys["ca"], "sa")
    entries, _ = _shown(transcript, "sa")
    assert seq in [e["seq"] for e in entries]
