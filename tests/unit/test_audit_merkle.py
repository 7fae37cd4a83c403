"""The RFC 6962/9162 tree over audit events: roots, proofs, verifiers, tampering."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcr_kit.audit.chain import AuditIntegrityError, AuditLog, ensure_schema
from tcr_kit.audit.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofInvalid,
    TreeBuilder,
    leaf_hash,
    node_hash,
    tree_from_events,
    verify_consistency,
    verify_inclusion,
)
from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.errors import ExitCode

ADMIN = SoftwareEd25519Signer.generate()


def _data(n: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n)]


def _reference_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 §2.1.1, recursively."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_reference_root(leaves[:k]), _reference_root(leaves[k:]))


def test_hashes_use_the_rfc_6962_prefixes() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert (
        node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )
    assert MerkleTree().root() == hashlib.sha256(b"").digest()


def test_rfc_6962_test_vector_root_of_eight_leaves() -> None:
    # The certificate-transparency test vector: leaves "", 00, 10, 2021, 3031, 40414243,
    # 5051525354555657, 606162636465666768696a6b6c6d6e6f.
    data = [
        bytes.fromhex(h)
        for h in (
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        )
    ]
    tree = MerkleTree.from_data(data)
    assert tree.root().hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert tree.root(1).hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


@given(st.integers(min_value=0, max_value=70))
@settings(max_examples=40, deadline=None)
def test_incremental_root_equals_the_recursive_definition(n: int) -> None:
    leaves = [leaf_hash(d) for d in _data(n)]
    builder = TreeBuilder()
    for i, leaf in enumerate(leaves):
        builder.append_leaf_hash(leaf)
        assert builder.root() == _reference_root(leaves[: i + 1])
    assert MerkleTree(leaves).root() == _reference_root(leaves)


def test_every_inclusion_and_consistency_proof_verifies() -> None:
    tree = MerkleTree.from_data(_data(21))
    for n in range(1, 22):
        for i in range(n):
            verify_inclusion(i, n, tree.leaf(i), tree.inclusion_proof(i, n), tree.root(n))
        for m in range(1, n + 1):
            verify_consistency(m, n, tree.root(m), tree.root(n), tree.consistency_proof(m, n))


def test_inclusion_proof_fails_for_a_changed_leaf_wrong_index_or_wrong_size() -> None:
    tree = MerkleTree.from_data(_data(13))
    proof = tree.inclusion_proof(5, 13)
    with pytest.raises(ProofInvalid):
        verify_inclusion(5, 13, leaf_hash(b"changed"), proof, tree.root())
    with pytest.raises(ProofInvalid):
        verify_inclusion(6, 13, tree.leaf(5), proof, tree.root())
    with pytest.raises(ProofInvalid):
        verify_inclusion(5, 8, tree.leaf(5), proof, tree.root())  # the path is one too long
    with pytest.raises(ProofInvalid):
        verify_inclusion(5, 13, tree.leaf(5), proof[:-1], tree.root())
    with pytest.raises(ProofInvalid):
        verify_inclusion(5, 13, tree.leaf(5), [*proof, proof[0]], tree.root())
    with pytest.raises(ProofInvalid) as info:
        verify_inclusion(13, 13, tree.leaf(5), proof, tree.root())
    assert info.value.exit_code == ExitCode.INTEGRITY


def test_consistency_proof_fails_for_a_rewritten_history_or_wrong_sizes() -> None:
    honest = MerkleTree.from_data(_data(20))
    forked_data = _data(20)
    forked_data[3] = b"rewritten"
    forked = MerkleTree.from_data(forked_data)
    proof = honest.consistency_proof(7, 20)
    verify_consistency(7, 20, honest.root(7), honest.root(20), proof)
    with pytest.raises(ProofInvalid):
        verify_consistency(7, 20, forked.root(7), honest.root(20), proof)
    with pytest.raises(ProofInvalid):
        verify_consistency(7, 20, honest.root(7), forked.root(20), proof)
    with pytest.raises(ProofInvalid):
        verify_consistency(8, 20, honest.root(7), honest.root(20), proof)
    with pytest.raises(ProofInvalid):
        verify_consistency(7, 40, honest.root(7), honest.root(20), proof)
    with pytest.raises(ProofInvalid):
        verify_consistency(7, 20, honest.root(7), honest.root(20), [])
    with pytest.raises(ProofInvalid, match="different tree heads"):
        verify_consistency(20, 20, honest.root(), forked.root(), [])
    with pytest.raises(ProofInvalid):
        verify_consistency(9, 4, honest.root(9), honest.root(4), proof)


def test_proof_requests_outside_the_tree_are_refused() -> None:
    tree = MerkleTree.from_data(_data(4))
    with pytest.raises(ValueError, match="not in a tree"):
        tree.inclusion_proof(4, 4)
    with pytest.raises(ValueError, match="between 0 and 4"):
        tree.consistency_proof(2, 5)
    with pytest.raises(ValueError, match="no consistency proof"):
        tree.consistency_proof(0, 4)


def _log(n: int) -> tuple[sqlite3.Connection, AuditLog]:
    conn = sqlite3.connect(":memory:")
    ensure_schema(conn)
    log = AuditLog(conn)
    log.register_key(ADMIN, "admin", ADMIN.public_key_bytes(), "admin")
    for i in range(n):
        log.append(ADMIN, "admin", "test.step", {"i": i})
    return conn, log


def test_tree_over_events_has_one_leaf_per_event_hash() -> None:
    _, log = _log(6)
    tree = tree_from_events(log.events())
    hashes = [bytes.fromhex(e.hash) for e in log.events()]
    assert tree.size == 7
    assert tree.root() == MerkleTree.from_data(hashes).root()
    assert tree.chain_head == log.head()[1]
    assert tree.first_event == hashes[0].hex()


def test_tree_is_recomputed_from_bodies_not_trusted_hash_column() -> None:
    conn, log = _log(3)
    body = conn.execute("SELECT body FROM audit_event WHERE seq = 3").fetchone()[0]
    conn.execute(
        "UPDATE audit_event SET body = ? WHERE seq = 3", (body.replace(b'"i":1', b'"i":7'),)
    )
    with pytest.raises(AuditIntegrityError, match="event 3"):
        tree_from_events(log.events())


def test_tree_over_events_refuses_a_gap() -> None:
    conn, log = _log(3)
    conn.execute("DELETE FROM audit_event WHERE seq = 2")
    with pytest.raises(AuditIntegrityError, match="event 2: missing"):
        tree_from_events(log.events())


def test_large_tree_roots_and_proofs_agree_with_the_plain_computation() -> None:
    data = _data(1500)
    tree = MerkleTree.from_data(data)
    leaves = [leaf_hash(d) for d in data]
    for size in (257, 512, 513, 1024, 1100, 1499, 1500):
        if size < 600:
            assert tree.root(size) == _reference_root(leaves[:size])
        builder = TreeBuilder()
        for leaf in leaves[:size]:
            builder.append_leaf_hash(leaf)
        assert tree.root(size) == builder.root()
        for index in (0, 255, 256, 700 % size, size - 1):
            proof = tree.inclusion_proof(index, size)
            verify_inclusion(index, size, tree.leaf(index), proof, tree.root(size))
        for first in (f for f in (1, 256, 300, size - 1) if f <= size):
            proof = tree.consistency_proof(first, size)
            verify_consistency(first, size, tree.root(first), tree.root(size), proof)
