"""The other signed statements events carry are re-checked too: a TCR's seal attestation
(in a ``bag.remote-seal`` event's records) and a signed share manifest (in a
``share-set.manifest`` event). Genuine ones verify and are counted; rewritten by an attacker
holding the actor's key and re-chained, the log and its transcript fail naming the event."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tcr_kit.audit.chain import AuditIntegrityError
from tcr_kit.audit.receipt import ReceiptInvalid, build_receipt, check_receipt, ledger_verifiers
from tcr_kit.audit.signing import key_id
from tcr_kit.audit.statements import manifest_digest, seal_attestation_digest
from tcr_kit.audit.transcript import build_transcript, verify_transcript, write_transcript
from tcr_kit.audit.treehead import log_tree, sign_tree_head
from tcr_kit.custody import remote
from tcr_kit.custody.ledger import Ledger
from tcr_kit.custody.share_manifests import sign_manifest
from tcr_kit.sharing import native
from tcr_kit.sharing.manifest import parse_manifest
from tests.audit_forgery import Payload, forge_ledger, forge_transcript

from .conftest import KEYS, World


def _fails(
    ledger: Path, transcript: Path, seq: int, edit: Callable[[Payload], None], why: str
) -> None:
    with Ledger.open(forge_ledger(ledger, seq, edit, KEYS["ca"]), create=False) as led:
        with pytest.raises(AuditIntegrityError) as caught:
            led.verify()
    assert caught.value.seq == seq and why in caught.value.reason
    with pytest.raises(AuditIntegrityError) as caught:
        verify_transcript(forge_transcript(transcript, seq, edit, KEYS["ca"]))
    assert caught.value.seq == seq and why in caught.value.reason


def _export(world: World, tmp_path: Path) -> Path:
    path = tmp_path / "transcript.json"
    write_transcript(build_transcript(world.ledger.audit), path)
    return path


def _event(world: World, subject: str, kind: str) -> int:
    return int(next(e["seq"] for e in world.ledger.history(subject) if e["kind"] == kind))


def test_a_seal_attestation_in_the_log_is_checked_against_the_holders_key(
    world: World, tmp_path: Path
) -> None:
    att = remote.seal(KEYS["tcr"], holder="tcr-3", bag_serial="TEB-1001", contents=["CO3-KEY"])
    assert att.digest == seal_attestation_digest(att.to_json())
    world.ledger.record_remote_seal(world.ca, att)
    world.ledger.ship_bag(world.ca, "TEB-1001", carrier="courier", tracking="TRK1",
                          sender="tcr-3", recipient="east")  # fmt: skip
    seq = _event(world, "bag:TEB-1001", "bag.remote-seal")
    transcript = _export(world, tmp_path)
    assert world.ledger.verify().statements == 1
    assert verify_transcript(transcript).report.statements == 1
    world.ledger.close()

    def attestation(payload: Payload) -> Payload:
        (record,) = [r for r in payload["records"] if r["table"] == "attestation"]
        doc: Payload = record["doc"]
        return doc

    def forged(payload: Payload) -> None:
        attestation(payload)["signature"] = "5a" * 64

    def edited(payload: Payload) -> None:
        attestation(payload)["contents"] = ["CO3-KEY", "CO4-KEY"]

    def other_holder(payload: Payload) -> None:
        attestation(payload)["holder"] = "iw-1"

    path = world.ledger.path
    why = "the seal attestation of tcr-3 does not verify"
    _fails(path, transcript, seq, forged, why)
    _fails(path, transcript, seq, edited, why)
    _fails(path, transcript, seq, other_holder, "the seal attestation of iw-1 names key")


def test_a_signed_share_manifest_in_the_log_is_checked_against_its_signers_key(
    world: World, tmp_path: Path
) -> None:
    shares = native.split_bytes(b"activation pin 97531", 2, 3, label="HSM-\u00c5")
    h = shares[0].header
    record = native.SplitManifest(
        h.set_id, 2, 3, h.secret_length, h.label, [s.digest() for s in shares]
    ).record()
    manifest = sign_manifest(parse_manifest(native.canonical_json(record)), KEYS["sa"], "sa-1")
    # The verifier's bytes are the signer's, a non-ASCII label included.
    assert manifest_digest(manifest.model_dump(mode="json")) == manifest.signing_digest()
    seq = world.ledger.register_manifest(world.ca, "hsm-a", manifest, purpose="HSM A PIN").seq
    transcript = _export(world, tmp_path)
    assert world.ledger.verify().statements == 1
    assert verify_transcript(transcript).report.statements == 1
    world.ledger.close()

    def relabelled(payload: Payload) -> None:
        payload["manifest"]["label"] = "HSM-B"

    def relabelled_and_rehashed(payload: Payload) -> None:
        relabelled(payload)
        payload["manifest_sha256"] = manifest_digest(payload["manifest"]).hex()

    def signed_by_another(payload: Payload) -> None:
        payload["manifest"]["signer"]["id"] = "ca-1"
        payload["manifest_sha256"] = manifest_digest(payload["manifest"]).hex()

    path = world.ledger.path
    _fails(path, transcript, seq, relabelled, "does not hash to its manifest_sha256")
    _fails(path, transcript, seq, relabelled_and_rehashed, "signature of sa-1 does not verify")
    _fails(path, transcript, seq, signed_by_another, "the share manifest of ca-1 names key")


def _receipt(path: Path, participant: str) -> dict[str, Any]:
    """A receipt for ``participant`` against a checkpoint of the ledger at ``path``, signed
    by ca-1 (whoever holds that key can make one, of a forged log too)."""
    with Ledger.open(path, create=False) as led:
        note = sign_tree_head(log_tree(led.audit), KEYS["ca"], ORIGIN).note
        return build_receipt(led.audit, participant, note)


def _check(doc: dict[str, Any], path: Path) -> None:
    with Ledger.open(path, create=False) as led:
        verifiers = ledger_verifiers(led.audit, [ORIGIN])
    check_receipt(doc, verifiers)


ORIGIN = "example.org/tcr-kit-test"


def test_a_receipt_rechecks_the_statements_inside_its_events(world: World) -> None:
    att = remote.seal(KEYS["tcr"], holder="tcr-3", bag_serial="TEB-1001", contents=["CO3-KEY"])
    world.ledger.record_remote_seal(world.ca, att)
    seq = _event(world, "bag:TEB-1001", "bag.remote-seal")
    path = world.ledger.path
    world.ledger.close()
    genuine = _receipt(path, "tcr-3")
    # The receipt carries the registration of tcr-3's key, who signed the attestation in
    # an event ca-1 signed, beside ca-1's.
    owners = {json.loads(k["body"])["payload"]["owner"] for k in genuine["keys"]}
    assert {"ca-1", "tcr-3"} <= owners
    _check(genuine, path)

    def edited(payload: Payload) -> None:
        (record,) = [r for r in payload["records"] if r["table"] == "attestation"]
        record["doc"]["contents"] = ["CO3-KEY", "CO4-KEY"]

    forged = forge_ledger(path, seq, edited, KEYS["ca"])
    with pytest.raises(ReceiptInvalid) as caught:
        _check(_receipt(forged, "tcr-3"), forged)
    assert str(caught.value) == (
        f"receipt: event {seq}: the seal attestation of tcr-3 does not verify under key"
        f" {key_id(KEYS['tcr'].public_key_bytes())}"
    )
    # A receipt without the statement signer's key (as receipts were made before) cannot
    # show the statement holds, and fails: make it again.
    tcr_key = key_id(KEYS["tcr"].public_key_bytes())
    genuine["keys"] = [
        k for k in genuine["keys"] if json.loads(k["body"])["payload"]["key_id"] != tcr_key
    ]
    with pytest.raises(
        ReceiptInvalid, match="tcr-3 has no key registered before this event"
    ) as old:
        _check(genuine, path)
    assert str(old.value).endswith("make it again with tcr audit receipt)")


def _forge_rows(path: Path, edits: dict[int, Callable[[Payload], None]], resign: Any) -> Path:
    """A copy of the ledger at ``path`` whose events ``edits`` names were rewritten in place
    (hash recomputed; an event signed by ``resign``'s key is re-signed, any other keeps its
    now-broken signature), not re-chained: a receipt checks no chain, only the tree a
    checkpoint signs, which whoever holds a checkpoint key can sign over anything."""
    import sqlite3

    from tcr_kit.audit.canonical import canonical_bytes
    from tcr_kit.audit.chain import event_hash

    forged = path.with_name(f"forged-rows-{path.name}")
    src, dst = sqlite3.connect(path), sqlite3.connect(forged)
    src.backup(dst)
    src.close()
    with dst:
        for seq, edit in edits.items():
            (raw,) = dst.execute("SELECT body FROM audit_event WHERE seq = ?", (seq,)).fetchone()
            body = json.loads(raw)
            edit(body["payload"])
            data = canonical_bytes(body)
            digest = event_hash(data)
            (signature,) = dst.execute(
                "SELECT signature FROM audit_event WHERE seq = ?", (seq,)
            ).fetchone()
            if body["key_id"] == key_id(resign.public_key_bytes()):
                signature = resign.sign(digest).hex()
            dst.execute(
                "UPDATE audit_event SET body = ?, hash = ?, signature = ? WHERE seq = ?",
                (data, digest.hex(), signature, seq),
            )
    dst.close()
    return forged


def test_a_receipt_refuses_a_statement_signers_key_registration_nobody_signed(
    world: World,
) -> None:
    """The registration of a statement signer's key in a receipt is itself checked, back to
    the log's first event: a forger holding the actor's key (who can sign a checkpoint),
    who swaps tcr-3's registered key for their own (leaving sa-1's signature of the
    registration broken) and signs a new attestation with it, is caught by the receipt
    as by ``tcr audit verify``."""
    from tcr_kit.audit.signing import SoftwareEd25519Signer

    att = remote.seal(KEYS["tcr"], holder="tcr-3", bag_serial="TEB-1001", contents=["CO3-KEY"])
    world.ledger.record_remote_seal(world.ca, att)
    seq = _event(world, "bag:TEB-1001", "bag.remote-seal")
    tcr_key = world.ledger.audit.key_of(key_id(KEYS["tcr"].public_key_bytes()))
    assert tcr_key is not None
    path = world.ledger.path
    world.ledger.close()

    mallory = SoftwareEd25519Signer.generate()
    fake = remote.seal(mallory, holder="tcr-3", bag_serial="TEB-1001",
                       contents=["CO3-KEY", "CO4-KEY"]).to_json()  # fmt: skip

    def swapped_key(payload: Payload) -> None:
        payload["public_key"] = mallory.public_key_bytes().hex()
        payload["key_id"] = key_id(mallory.public_key_bytes())

    def swapped_attestation(payload: Payload) -> None:
        (record,) = [r for r in payload["records"] if r["table"] == "attestation"]
        record["doc"] = fake

    forged = _forge_rows(
        path, {tcr_key.added_seq: swapped_key, seq: swapped_attestation}, KEYS["ca"]
    )
    with Ledger.open(forged, create=False) as led, pytest.raises(AuditIntegrityError) as full:
        led.verify()
    assert full.value.seq == tcr_key.added_seq
    with pytest.raises(ReceiptInvalid, match=f"key registration {tcr_key.added_seq}"):
        _check(_receipt(forged, "tcr-3"), forged)
