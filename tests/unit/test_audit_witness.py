"""C2SP tlog-cosignature v1 (Ed25519) cosignatures and the witness's rules."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from tcr_kit.audit.merkle import MerkleTree
from tcr_kit.audit.note import Checkpoint, NoteInvalid, NoteSigner, open_note, parse, sign
from tcr_kit.audit.signing import SoftwareEd25519Signer, verify_signature
from tcr_kit.audit.witness import (
    CosignatureVerifier,
    Cosigner,
    TooFewCosignatures,
    WitnessRefused,
    WitnessState,
    cosign_checkpoint,
    require_cosignatures,
)
from tcr_kit.errors import ExitCode, InputError

LOG = SoftwareEd25519Signer.generate()
W1 = SoftwareEd25519Signer.generate()
ORIGIN = "tcr-kit/east/0011223344556677"
TREE = MerkleTree.from_data([hashlib.sha256(bytes([i])).digest() for i in range(12)])


def _note(size: int, tree: MerkleTree = TREE) -> str:
    return sign(Checkpoint(ORIGIN, size, tree.root(size)).to_text(), [NoteSigner(ORIGIN, LOG)])


def test_cosignature_line_follows_cosignature_v1() -> None:
    note = _note(5)
    cosigner = Cosigner("witness.example/w1", W1)
    cosigned = cosigner.cosign(note, timestamp=1679315147)
    line = cosigned.split("\n")[-2]
    name, b64 = line.removeprefix("\u2014 ").split(" ")
    blob = base64.b64decode(b64)
    pub = W1.public_key_bytes()
    assert name == "witness.example/w1" and len(blob) == 4 + 8 + 64
    assert blob[:4] == hashlib.sha256(name.encode() + b"\n\x04" + pub).digest()[:4]
    assert int.from_bytes(blob[4:12], "big") == 1679315147
    message = b"cosignature/v1\ntime 1679315147\n" + parse(note).text.encode()
    verify_signature("ed25519", pub, message, blob[12:])
    vkey = cosigner.verifier.verifier_key()
    assert vkey.split("+", 2)[2] == base64.b64encode(b"\x04" + pub).decode()
    assert CosignatureVerifier.parse(vkey) == cosigner.verifier
    # The log's own signature is kept, and still opens the note.
    open_note(cosigned, [NoteSigner(ORIGIN, LOG).verifier])


def test_need_counts_distinct_known_witnesses_only() -> None:
    w1 = Cosigner("witness.example/w1", W1)
    w2 = Cosigner("witness.example/w2", SoftwareEd25519Signer.generate())
    stranger = Cosigner("witness.example/w3", SoftwareEd25519Signer.generate())
    note = stranger.cosign(w1.cosign(_note(5)))
    known = [w1.verifier, w2.verifier]
    assert require_cosignatures(note, known, 1) == ["witness.example/w1"]
    with pytest.raises(TooFewCosignatures, match="1 of the 2") as info:
        require_cosignatures(note, [*known, w1.verifier], 2)
    assert info.value.exit_code == ExitCode.QUORUM
    assert require_cosignatures(w2.cosign(note), known, 2) == [
        "witness.example/w1",
        "witness.example/w2",
    ]


def test_cosignature_moved_to_another_checkpoint_does_not_verify() -> None:
    w1 = Cosigner("witness.example/w1", W1)
    line = w1.cosign(_note(5)).split("\n")[-2]
    moved = _note(6) + line + "\n"
    with pytest.raises(NoteInvalid, match="does not verify"):
        require_cosignatures(moved, [w1.verifier], 1)


def test_witness_keys_are_checked() -> None:
    vkey = Cosigner("witness.example/w1", W1).verifier.verifier_key()
    log_vkey = NoteSigner("witness.example/w1", W1).verifier.verifier_key()
    with pytest.raises(InputError, match="cosignature/v1"):
        CosignatureVerifier.parse(log_vkey)  # a 0x01 key is not a witness key
    name, kid, key = vkey.split("+", 2)
    with pytest.raises(InputError, match="key id"):
        CosignatureVerifier.parse(f"{name}x+{kid}+{key}")


def test_witness_state_keeps_the_largest_consistent_head(tmp_path: Path) -> None:
    state = WitnessState.create(tmp_path / "w", "witness.example/w1")
    log = [NoteSigner(ORIGIN, LOG).verifier]
    assert cosign_checkpoint(state, _note(4), log).previous is None
    proof = {
        "from": {"size": 4},
        "to": {"size": 9},
        "proof": [base64.b64encode(h).decode() for h in TREE.consistency_proof(4, 9)],
    }
    result = cosign_checkpoint(state, _note(9), log, proof)
    assert result.previous is not None and result.previous.size == 4
    assert state.seen(ORIGIN) is not None and state.seen(ORIGIN).size == 9  # type: ignore[union-attr]
    with pytest.raises(WitnessRefused, match="rolled back"):
        cosign_checkpoint(state, _note(8), log)
    forked = MerkleTree.from_data([b"x"] * 9)
    with pytest.raises(WitnessRefused, match="forked"):
        cosign_checkpoint(state, _note(9, forked), log)
    cosign_checkpoint(state, _note(9), log)  # the same head again is fine
    with pytest.raises(InputError, match="needed from 9 to 12"):
        cosign_checkpoint(state, _note(12), log, proof)
    with pytest.raises(InputError, match="already"):
        WitnessState.create(tmp_path / "w", "witness.example/w1")
