"""Interop with Go's reference code, offline: ``golang.org/x/mod/sumdb/note`` opens our
checkpoint notes (and signs notes we open), ``sumdb/tlog`` computes the same tree hashes
and accepts our inclusion and consistency proofs (and makes proofs we accept).

The Go program (tests/integration/gotlog/main.go) is built once per session in GOPATH mode
against Debian's golang-golang-x-mod-dev, with no network. With ``TCR_REQUIRE_STACK=1`` a
missing Go toolchain or library fails these tests; it never skips them.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from tcr_kit.audit.merkle import MerkleTree, ProofInvalid, verify_consistency, verify_inclusion
from tcr_kit.audit.note import Checkpoint, NoteInvalid, NoteSigner, NoteVerifier, open_note, sign
from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.audit.treehead import log_origin, log_tree, sign_tree_head
from tcr_kit.custody.models import Credential, CredentialKind
from tests.custody.conftest import KEYS, make_world
from tests.integration.go_reference import go, gotlog_fixture  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration


def b64(h: bytes) -> str:
    return base64.b64encode(h).decode("ascii")


def _data(n: int) -> list[bytes]:
    return [hashlib.sha256(b"event %d" % i).digest() for i in range(n)]


def test_go_tlog_computes_the_same_tree_hashes(gotlog: Path) -> None:
    data = _data(40)
    ours = MerkleTree.from_data(data)
    stdin = "\n".join(d.hex() for d in data) + "\n"
    for n in (1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 32, 33, 40):
        assert go(gotlog, "tree-hash", str(n), stdin=stdin).strip() == b64(ours.root(n))


def test_go_tlog_accepts_our_inclusion_proofs_and_refuses_a_changed_leaf(gotlog: Path) -> None:
    data = _data(23)
    tree = MerkleTree.from_data(data)
    for n in (1, 2, 6, 8, 13, 23):
        for i in range(n):
            proof = [b64(p) for p in tree.inclusion_proof(i, n)]
            go(gotlog, "check-record", str(n), b64(tree.root(n)), str(i), b64(tree.leaf(i)), *proof)
    proof = [b64(p) for p in tree.inclusion_proof(5, 23)]
    go(gotlog, "check-record", "23", b64(tree.root()), "5", b64(tree.leaf(6)), *proof, ok=False)
    go(
        gotlog,
        "check-record",
        "22",
        b64(tree.root()),
        "5",
        b64(tree.leaf(5)),
        *proof[:-1],
        ok=False,
    )


def test_go_tlog_accepts_our_consistency_proofs_and_refuses_a_fork(gotlog: Path) -> None:
    data = _data(21)
    tree = MerkleTree.from_data(data)
    forked = MerkleTree.from_data([b"forged", *data[1:]])
    for n in (2, 5, 8, 13, 21):
        for m in range(1, n + 1):
            proof = [b64(p) for p in tree.consistency_proof(m, n)]
            go(gotlog, "check-tree", str(n), b64(tree.root(n)), str(m), b64(tree.root(m)), *proof)
    proof = [b64(p) for p in tree.consistency_proof(6, 21)]
    go(gotlog, "check-tree", "21", b64(tree.root()), "6", b64(forked.root(6)), *proof, ok=False)


def test_proofs_made_by_go_tlog_are_accepted_by_ours(gotlog: Path) -> None:
    data = _data(19)
    tree = MerkleTree.from_data(data)
    stdin = "\n".join(d.hex() for d in data) + "\n"
    for n in (1, 3, 8, 12, 19):
        for i in range(n):
            proof = [
                base64.b64decode(p)
                for p in go(gotlog, "prove-record", str(n), str(i), stdin=stdin).split()
            ]
            assert proof == tree.inclusion_proof(i, n)
            verify_inclusion(i, n, tree.leaf(i), proof, tree.root(n))
        for m in range(1, n + 1):
            proof = [
                base64.b64decode(p)
                for p in go(gotlog, "prove-tree", str(n), str(m), stdin=stdin).split()
            ]
            verify_consistency(m, n, tree.root(m), tree.root(n), proof)
            if m > 1:
                with pytest.raises(ProofInvalid):
                    verify_consistency(m - 1, n, tree.root(m), tree.root(n), proof)


def test_go_note_opens_a_ledger_checkpoint_note(gotlog: Path, tmp_path: Path) -> None:
    world = make_world(tmp_path / "ledger.sqlite")
    for i in range(9):
        world.ledger.add_credential(
            world.ca,
            Credential(
                id=f"K{i}", kind=CredentialKind.SAFE_DEPOSIT_KEY, serial=f"S{i}", holder="tcr-3"
            ),
        )
    world.ledger.checkpoint(world.ca)
    tree = log_tree(world.ledger.audit)
    hashes = [e.hash for e in world.ledger.audit.events()]
    world.ledger.close()
    origin = log_origin(tree, site="east")
    signed = sign_tree_head(tree, KEYS["ca"], origin)
    out = go(gotlog, "verify-note", signed.verifier_key, stdin=signed.note)
    assert out == signed.checkpoint.to_text() + f"verified: {origin}\n"
    # Go's tree hash of the same events is the root in the note.
    stdin = "\n".join(hashes) + "\n"
    assert go(gotlog, "tree-hash", str(len(hashes)), stdin=stdin).strip() == b64(
        signed.checkpoint.root
    )


def test_go_note_refuses_our_note_tampered_or_under_a_wrong_key_name(gotlog: Path) -> None:
    signer = NoteSigner("tcr-kit/east/00112233aabbccdd", KEYS["ca"])
    note = sign(Checkpoint(signer.name, 9, hashlib.sha256(b"r").digest()).to_text(), [signer])
    vkey = signer.verifier.verifier_key()
    go(gotlog, "verify-note", vkey, stdin=note)
    go(gotlog, "verify-note", vkey, stdin=note.replace("\n9\n", "\n10\n"), ok=False)
    wrong_name = NoteSigner("tcr-kit/west/00112233aabbccdd", KEYS["ca"]).verifier.verifier_key()
    assert "no verifiable signatures" in go(gotlog, "verify-note", wrong_name, stdin=note, ok=False)


def test_notes_signed_by_go_are_opened_by_ours(gotlog: Path) -> None:
    skey, vkey = go(gotlog, "genkey", "witness.example/w1").split()
    text = Checkpoint("tcr-kit/east/00112233aabbccdd", 3, bytes(32)).to_text()
    note = go(gotlog, "sign-note", skey, stdin=text)
    verifier = NoteVerifier.parse(vkey)
    parsed, names = open_note(note, [verifier])
    assert parsed.text == text and names == ["witness.example/w1"]
    with pytest.raises(NoteInvalid):
        open_note(note.replace("\n3\n", "\n4\n"), [verifier])
    # And a note cosigned by both (ours first, Go's appended) opens in both.
    ours = NoteSigner("tcr-kit/east/00112233aabbccdd", SoftwareEd25519Signer.generate())
    both = sign(text, [ours]) + note.split("\n\n", 1)[1]
    _, names = open_note(both, [ours.verifier, verifier])
    assert names == [ours.name, "witness.example/w1"]
    out = go(gotlog, "verify-note", ours.verifier.verifier_key(), vkey, stdin=both)
    assert out.endswith(f"verified: {ours.name} witness.example/w1\n")


def test_go_note_still_opens_a_witness_cosigned_note_with_the_log_key(gotlog: Path) -> None:
    from tcr_kit.audit.witness import Cosigner

    log = NoteSigner("tcr-kit/east/00112233aabbccdd", KEYS["ca"])
    note = sign(Checkpoint(log.name, 4, hashlib.sha256(b"r").digest()).to_text(), [log])
    cosigned = Cosigner("witness.example/w1", KEYS["iw"]).cosign(note)
    out = go(gotlog, "verify-note", log.verifier.verifier_key(), stdin=cosigned)
    assert out.endswith(f"verified: {log.name}\n")


def test_go_confirms_the_committed_vectors(gotlog: Path) -> None:
    import json

    data = json.loads((Path(__file__).resolve().parents[2] / "vectors/tlog.json").read_text())
    stdin = "\n".join(data["tree"]["leaf_data_hex"]) + "\n"
    for n, root in enumerate(data["tree"]["roots"][1:], start=1):
        assert go(gotlog, "tree-hash", str(n), stdin=stdin).strip() == root
    for v in data["inclusion"]:
        go(gotlog, "check-record", str(v["size"]), v["root"], str(v["index"]), v["leaf_hash"],
           *v["proof"])  # fmt: skip
    for v in data["consistency"]:
        go(gotlog, "check-tree", str(v["second"]), v["second_root"], str(v["first"]),
           v["first_root"], *v["proof"])  # fmt: skip
    note = data["note"]
    go(gotlog, "verify-note", note["verifier_key"], stdin=note["signed_note"])
    go(gotlog, "verify-note", note["verifier_key"], stdin=note["cosigned_note"])
    for reject in note["reject"]:
        go(gotlog, "verify-note", note["verifier_key"], stdin=reject["signed_note"], ok=False)


def test_go_tlog_agrees_on_a_tree_larger_than_the_cached_subtrees(gotlog: Path) -> None:
    data = _data(700)
    tree = MerkleTree.from_data(data)
    stdin = "\n".join(d.hex() for d in data) + "\n"
    for n in (257, 512, 600, 700):
        assert go(gotlog, "tree-hash", str(n), stdin=stdin).strip() == b64(tree.root(n))
        for i in (0, 256, n - 1):
            proof = [b64(p) for p in tree.inclusion_proof(i, n)]
            go(gotlog, "check-record", str(n), b64(tree.root(n)), str(i), b64(tree.leaf(i)),
               *proof)  # fmt: skip
        for m in (m for m in (1, 256, 300, n - 1) if m <= n):
            proof = [b64(p) for p in tree.consistency_proof(m, n)]
            go(gotlog, "check-tree", str(n), b64(tree.root(n)), str(m), b64(tree.root(m)),
               *proof)  # fmt: skip
