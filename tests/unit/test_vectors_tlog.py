"""The committed public-log vectors are reproducible and our verifiers obey them (Go's
reference confirms them in tests/integration/test_interop_go_sumdb.py)."""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from tcr_kit.audit.merkle import MerkleTree, ProofInvalid, verify_consistency, verify_inclusion
from tcr_kit.audit.note import NoteInvalid, NoteVerifier, open_checkpoint
from tcr_kit.audit.witness import CosignatureVerifier, require_cosignatures

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
DATA = json.loads((VECTORS / "tlog.json").read_text(encoding="utf-8"))


def _b(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


def test_committed_vectors_equal_a_fresh_generation() -> None:
    spec = importlib.util.spec_from_file_location("gen_tlog", VECTORS / "gen_tlog.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render() == (VECTORS / "tlog.json").read_text(encoding="utf-8")


def test_tree_roots_match_the_vectors() -> None:
    data = [bytes.fromhex(h) for h in DATA["tree"]["leaf_data_hex"]]
    tree = MerkleTree.from_data(data)
    assert [base64.b64encode(tree.root(n)).decode() for n in range(len(data) + 1)] == DATA["tree"][
        "roots"
    ]


@pytest.mark.parametrize("v", DATA["inclusion"], ids=lambda v: f"{v['index']}-in-{v['size']}")
def test_inclusion_vectors_verify_and_fail_for_the_next_leaf(v: dict[str, Any]) -> None:
    leaf, root = base64.b64decode(v["leaf_hash"]), base64.b64decode(v["root"])
    verify_inclusion(v["index"], v["size"], leaf, _b(v["proof"]), root)
    with pytest.raises(ProofInvalid):
        verify_inclusion(v["index"], v["size"], bytes(32), _b(v["proof"]), root)


@pytest.mark.parametrize("v", DATA["consistency"], ids=lambda v: f"{v['first']}-{v['second']}")
def test_consistency_vectors_verify_and_fail_for_another_old_root(v: dict[str, Any]) -> None:
    first_root = base64.b64decode(v["first_root"])
    second_root = base64.b64decode(v["second_root"])
    verify_consistency(v["first"], v["second"], first_root, second_root, _b(v["proof"]))
    with pytest.raises(ProofInvalid):
        verify_consistency(v["first"], v["second"], bytes(32), second_root, _b(v["proof"]))


def test_note_vectors_open_and_rejects_are_refused() -> None:
    note = DATA["note"]
    log = NoteVerifier.parse(note["verifier_key"])
    cp, _, _ = open_checkpoint(note["signed_note"], [log], origin=note["origin"])
    assert base64.b64encode(cp.root).decode() == DATA["tree"]["roots"][cp.size]
    witness = CosignatureVerifier.parse(note["witness_key"])
    open_checkpoint(note["cosigned_note"], [log])
    assert require_cosignatures(note["cosigned_note"], [witness], 1) == [witness.name]
    for reject in note["reject"]:
        with pytest.raises(NoteInvalid):
            open_checkpoint(reject["signed_note"], [log])
