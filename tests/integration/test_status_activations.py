"""``tcr status`` shows a person the HSM activations and share set manifests that concern
them, by the one rule of :mod:`tcr_kit.audit.concerns` (that receipts and ``tcr audit show
--person`` apply): where their share was presented, where they signed an emergency override
or a remote approval (a rejected one marked rejected), the manifests they signed; in the
table and in ``--json``, from the ledger and from a verified transcript alike. The logs are
real: SoftHSM2 activations recorded by :class:`~tcr_kit.hsm.activation.Activation`."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.audit.transcript import build_transcript, write_transcript
from tcr_kit.clock import utcnow
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.ledger.manifests import MANIFEST_EVENT_KINDS
from tcr_kit.custody.models import Person, Role, build
from tcr_kit.hsm.activation import Activation, ShareFile
from tcr_kit.hsm.approval import ApprovalBundle, new_request, sign_request
from tcr_kit.hsm.clearance import ActivationOverride, sign_override
from tcr_kit.hsm.config import load_config
from tcr_kit.hsm.errors import CustodyRefused
from tests.fixtures.stack import SoftHsm
from tests.integration.conftest import run_tcr
from tests.integration.hsm_helpers import (
    custody_ledger,
    make_hsm,
    manifest_signed_by_sa,
    register_shares,
)

pytestmark = pytest.mark.integration

Json = dict[str, Any]


@dataclass
class Activations:
    ledger: Path
    transcript: Path
    signed: int
    """The activation that signed: shares 1 (under the override), 2 and 3 presented."""
    refused: int
    """The activation refused because iw-1's override signature does not verify."""


@pytest.fixture
def activations(softhsm: SoftHsm, tmp_path: Path) -> Activations:
    """tcr-2 and tcr-3 present their shares in person; share 1 (tcr-1's) is presented under
    an emergency override signed by ca and iw-1, and the HSM signs. Then an attempt whose
    override carries a forged iw-1 signature is refused (iw-1 recorded as rejected)."""
    hsm = make_hsm(tmp_path, softhsm)
    set_id = hsm.loaded.share_set.id
    keys: dict[str, SoftwareEd25519Signer] = {}
    ledger, ca = custody_ledger(tmp_path / "ledger.sqlite", set_id, keys=keys)
    register_shares(ledger, ca, set_id, 5)
    keys["iw-1"] = SoftwareEd25519Signer.generate()
    ledger.add_person(
        Actor("sa", keys["sa"]),
        build(Person, id="iw-1", name="IW 1", roles=(Role.IW,), key_algorithm="ed25519",
              public_key=keys["iw-1"].public_key_bytes().hex()),
    )  # fmt: skip
    loaded = hsm.loaded
    override = sign_override(
        ledger, loaded.hsm.name, loaded.sha256, [f"{set_id}-1"], "tcr-1 is ill; card examined",
        [ca, Actor("iw-1", keys["iw-1"])],
    )  # fmt: skip
    activation = Activation(loaded, ledger=ledger, actor=ca, in_person=("tcr-2", "tcr-3"),
                            override=override)  # fmt: skip
    with activation.session([ShareFile(p) for p in hsm.plan.share_files[:3]]) as s:
        s.sign("ksk-demo", b"zone")
    ca_sig, iw_sig = override.signatures
    forged = ActivationOverride(override.statement, (ca_sig, replace(iw_sig, signature="5a" * 64)))
    again = Activation(loaded, ledger=ledger, actor=ca, in_person=("tcr-2", "tcr-3"),
                       override=forged)  # fmt: skip
    with pytest.raises(CustodyRefused), again.session([]):
        pass
    events = _activations_of(ledger, loaded.hsm.name)
    assert [e["payload"]["outcome"].split(":")[0] for e in events] == ["activated", "refused"]
    signed, refused = (int(e["seq"]) for e in events)
    assert [r["person"] for r in events[1]["payload"]["override"]["rejected"]] == ["iw-1"]
    transcript = tmp_path / "transcript.json"
    write_transcript(build_transcript(ledger.audit), transcript)
    ledger.close()
    return Activations(tmp_path / "ledger.sqlite", transcript, signed, refused)


def status(ledger: Path, person: str, *more: str) -> tuple[Json, str]:
    """``tcr status --as PERSON`` from ``ledger`` (or with ``more``, e.g. a transcript): the
    JSON document and the human text."""
    args = ["status", "--ledger", str(ledger), "--as", person, *more]
    data, human = run_tcr([*args, "--json"]), run_tcr(args)
    assert data.returncode == 0 and human.returncode == 0, data.stderr + human.stderr
    return json.loads(data.stdout), human.stdout


def _by_seq(doc: Json, key: str = "activations") -> dict[int, list[Json]]:
    return {e["seq"]: e["involvements"] for e in doc[key]}


def test_a_tcr_whose_share_was_presented_sees_the_activation_with_their_share(
    activations: Activations,
) -> None:
    """tcr-2 presented share 2 (neither the actor nor a signer): status lists the signing
    activation, not the refused one (which read no share), with when it was and its seq."""
    site = activations
    doc, human = status(site.ledger, "tcr-2")
    assert _by_seq(doc) == {
        site.signed: [{"as": "presented-share", "share": 2, "revision": None, "verdict": None,
                       "reason": None, "text": "presented share 2"}],
    }  # fmt: skip
    (entry,) = doc["activations"]
    assert entry["action"] == "hsm.activate" and entry["time"].endswith("Z")
    assert "activated" in entry["outcome"]
    assert doc["manifests"] == []
    assert "activations:" in human
    assert f"{entry['time']}  #{site.signed}  hsm.activate  presented share 2" in human
    # tcr-1's share was presented under the override: theirs too, by the same rule.
    theirs, _ = status(site.ledger, "tcr-1")
    assert [i["text"] for i in _by_seq(theirs)[site.signed]] == ["presented share 1"]
    # The existing keys are unchanged.
    assert {"person", "name", "roles", "credentials", "history", "head_seq", "head"} <= set(doc)


def test_an_override_signer_sees_both_activations_the_rejected_signature_marked_rejected(
    activations: Activations,
) -> None:
    site = activations
    doc, human = status(site.ledger, "iw-1")
    mine = _by_seq(doc)
    assert set(mine) == {site.signed, site.refused}
    (held,) = mine[site.signed]
    assert (held["as"], held["verdict"], held["text"]) == (
        "override-signer", "held", "signed the override"
    )  # fmt: skip
    (rejected,) = mine[site.refused]
    assert (rejected["as"], rejected["verdict"]) == ("override-signer", "rejected")
    assert "does not verify" in rejected["reason"]
    assert rejected["text"].startswith("signed the override (rejected: ")
    assert f"#{site.signed}  hsm.activate  signed the override\n" in human
    assert f"#{site.refused}  hsm.activate  signed the override (rejected: " in human
    # ca recorded both and signed both overrides, its own signature holding each time.
    ca, _ = status(site.ledger, "ca")
    assert [i["text"] for i in _by_seq(ca)[site.refused]] == ["recorded it", "signed the override"]


def test_status_from_a_transcript_carries_the_activations_too(activations: Activations) -> None:
    """Offline, from the verified transcript alone, the same activations and verdicts."""
    site = activations
    offline, human = status(site.ledger.with_name("absent.sqlite"), "iw-1",
                            "--transcript", str(site.transcript))  # fmt: skip
    online, _ = status(site.ledger, "iw-1")
    assert offline["activations"] == online["activations"]
    assert len(offline["activations"]) == 2
    assert "signed the override (rejected: " in human
    assert not site.ledger.with_name("absent.sqlite").exists()


def test_an_approver_sees_their_approval_counted_and_one_not_counted_sees_it_rejected(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    """An HSM needing 2 remote approvals: tcr-4's and tcr-5's count; tcr-3's, signed with a
    key that is not theirs, is rejected. tcr-4 sees 'approval counted'; tcr-3, who also
    presented share 3, sees both, the approval marked rejected with the reason."""
    hsm = make_hsm(tmp_path, softhsm)
    with hsm.config_path.open("a") as fh:
        fh.write("\n[approvals]\nrequired = 2\n")
    loaded = load_config(hsm.config_path)
    keys: dict[str, SoftwareEd25519Signer] = {}
    path = tmp_path / "ledger.sqlite"
    ledger, ca = custody_ledger(path, loaded.share_set.id, keys=keys)
    holders = register_shares(ledger, ca, loaded.share_set.id, 5)
    request = new_request(loaded, ceremony=1, purpose="sign the Q1 SKR",
                          expires=utcnow() + timedelta(hours=2))  # fmt: skip
    approvals = [sign_request(request, who, keys[who]) for who in ("tcr-4", "tcr-5")]
    approvals.append(sign_request(request, "tcr-3", SoftwareEd25519Signer.generate()))
    activation = Activation(loaded, ledger=ledger, actor=ca, in_person=holders,
                            approvals=ApprovalBundle(request, tuple(approvals)))  # fmt: skip
    with activation.session([ShareFile(p) for p in hsm.plan.share_files[:3]]) as s:
        s.sign("ksk-demo", b"zone")
    (event,) = _activations_of(ledger, loaded.hsm.name)
    assert [r["signer"] for r in event["payload"]["approvals"]["rejected"]] == ["tcr-3"]
    ledger.close()
    seq = int(event["seq"])

    counted, human = status(path, "tcr-4")
    assert [(i["as"], i["verdict"], i["text"]) for i in _by_seq(counted)[seq]] == [
        ("approval-signer", "held", "approval counted")
    ]
    assert f"#{seq}  hsm.activate  approval counted" in human
    both, human = status(path, "tcr-3")
    shown = _by_seq(both)[seq]
    assert [(i["as"], i["verdict"]) for i in shown] == [
        ("presented-share", None), ("approval-signer", "rejected")
    ]  # fmt: skip
    assert shown[1]["reason"] and shown[1]["text"] == f"approval rejected ({shown[1]['reason']})"
    assert f"#{seq}  hsm.activate  presented share 3; approval rejected (" in human


def _activations_of(ledger: Ledger, hsm: str) -> list[Json]:
    return [e for e in ledger.history(f"hsm:{hsm}") if e["kind"] == "hsm.activate"]


def test_a_manifest_signer_sees_the_manifest_they_signed(softhsm: SoftHsm, tmp_path: Path) -> None:
    """sa signs the split's manifest, ca registers it: sa's status lists the
    share-set.manifest event (by ca) as 'signed manifest revision 0'; ca's as recorded."""
    hsm, path, _ = manifest_signed_by_sa(tmp_path, softhsm)
    set_id = hsm.loaded.share_set.id
    with Ledger.open(path, create=False) as led:
        (event,) = [e for e in led.history(f"share-set:{set_id}")
                    if e["kind"] in MANIFEST_EVENT_KINDS]  # fmt: skip
    seq = int(event["seq"])
    doc, human = status(path, "sa")
    assert [(m["seq"], m["action"]) for m in doc["manifests"]] == [(seq, "share-set.manifest")]
    assert [i["text"] for i in _by_seq(doc, "manifests")[seq]] == ["signed manifest revision 0"]
    assert doc["activations"] == []
    assert "manifests:" in human
    assert f"#{seq}  share-set.manifest  signed manifest revision 0" in human
    theirs, _ = status(path, "ca")
    assert [i["text"] for i in _by_seq(theirs, "manifests")[seq]] == ["recorded it"]
    # A TCR the manifest does not concern sees none.
    nobody, human = status(path, "tcr-1")
    assert nobody["manifests"] == [] and "manifests:" not in human


def test_the_manifest_kinds_status_reads_are_the_ledgers() -> None:
    """history.py names the manifest kinds itself (importing the ledger's would load the
    facade into 'tcr status'); they must stay the ledger's."""
    from tcr_kit.custody import history

    assert history._MANIFEST_KINDS == MANIFEST_EVENT_KINDS
