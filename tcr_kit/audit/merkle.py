"""An RFC 6962 / RFC 9162 Merkle tree over the audit events, with inclusion and consistency
proofs and their verifiers.

Leaf ``i`` (from 0) is event ``i + 1``'s hash (the 32 raw bytes of ``hash_n``, see
:mod:`tcr_kit.audit.chain`); the tree hashes it as the RFCs say::

    leaf  = SHA-256(0x00 || event_hash)
    node  = SHA-256(0x01 || left || right)
    MTH({}) = SHA-256("")

The tree is always recomputed from the stored events (each event's hash is recomputed from
its body, not read from the ``hash`` column), never from a stored copy. :class:`TreeBuilder`
keeps only the stack of complete subtree roots (O(log n) memory) for the root;
:class:`MerkleTree` keeps the leaf hashes to produce proofs.

The verifiers follow RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) step by step.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tcr_kit.audit.chain import AuditIntegrityError, StoredEvent, event_hash
from tcr_kit.errors import IntegrityError

HASH_SIZE = 32
_CACHED = 256
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofInvalid(IntegrityError):
    """An inclusion or consistency proof does not verify."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


class TreeBuilder:
    """Incremental tree head: a stack of the roots of complete subtrees (sizes are the
    binary digits of the leaf count), so appending is amortised O(1) and memory O(log n)."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (subtree size, root), largest first
        self.size = 0

    def append_leaf_hash(self, leaf: bytes) -> None:
        size, value = 1, leaf
        while self._stack and self._stack[-1][0] == size:
            left_size, left = self._stack.pop()
            value = node_hash(left, value)
            size += left_size
        self._stack.append((size, value))
        self.size += 1

    def append(self, data: bytes) -> None:
        self.append_leaf_hash(leaf_hash(data))

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        value = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            value = node_hash(left, value)
        return value


def subtree_root(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (already leaf-hashed), computed with :class:`TreeBuilder`."""
    builder = TreeBuilder()
    for leaf in leaves:
        builder.append_leaf_hash(leaf)
    return builder.root()


class MerkleTree:
    """A tree over a list of leaf hashes: root at any size, inclusion and consistency
    proofs (RFC 9162 §2.1.3.1 PATH and §2.1.4.1 SUBPROOF)."""

    def __init__(self, leaves: Sequence[bytes] = ()) -> None:
        self._leaves: list[bytes] = list(leaves)
        self._cache: dict[tuple[int, int], bytes] = {}  # (start, size) -> complete subtree
        self._builder = TreeBuilder()
        for leaf in self._leaves:
            self._builder.append_leaf_hash(leaf)

    @classmethod
    def from_data(cls, data: Iterable[bytes]) -> MerkleTree:
        return cls([leaf_hash(d) for d in data])

    def append(self, data: bytes) -> None:
        leaf = leaf_hash(data)
        self._leaves.append(leaf)
        self._builder.append_leaf_hash(leaf)

    @property
    def size(self) -> int:
        return len(self._leaves)

    def leaf(self, index: int) -> bytes:
        return self._leaves[index]

    def root(self, size: int | None = None) -> bytes:
        """The tree head at ``size`` leaves (default: all)."""
        if size is None or size == self.size:
            return self._builder.root()
        self._check_size(size)
        return self._mth(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of ``size`` leaves, bottom up."""
        n = self.size if size is None else size
        self._check_size(n)
        if not 0 <= index < n:
            raise ValueError(f"leaf {index} is not in a tree of {n} leaves")
        return self._path(index, 0, n)

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """The proof that the tree of ``first`` leaves is a prefix of that of ``second``."""
        n = self.size if second is None else second
        self._check_size(n)
        if not 0 < first <= n:
            raise ValueError(f"no consistency proof from size {first} to size {n}")
        return self._subproof(first, 0, n, True)

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} is not between 0 and {self.size}")

    def _mth(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]); complete subtrees of at least ``_CACHED`` leaves are kept
        (the leaves below them never change), so proofs after the first cost O(log^2 n)."""
        n = end - start
        if n <= _CACHED:
            return subtree_root(self._leaves[start:end])
        if n & (n - 1) == 0:
            value = self._cache.get((start, n))
            if value is None:
                half = n // 2
                value = node_hash(self._mth(start, start + half), self._mth(start + half, end))
                self._cache[(start, n)] = value
            return value
        k = _split(n)
        return node_hash(self._mth(start, start + k), self._mth(start + k, end))

    def _path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*self._path(m, start, start + k), self._mth(start + k, end)]
        return [*self._path(m - k, start + k, end), self._mth(start, start + k)]

    def _subproof(self, m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [self._mth(start, end)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, start, start + k, complete), self._mth(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self._mth(start, start + k)]


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2: raise :class:`ProofInvalid` unless ``leaf`` (a leaf hash) is
    leaf ``index`` of the tree of ``size`` leaves whose head is ``root``."""
    if not 0 <= index < size:
        raise ProofInvalid(f"leaf index {index} is outside a tree of {size} leaves")
    if any(len(p) != HASH_SIZE for p in proof) or len(leaf) != HASH_SIZE:
        raise ProofInvalid("inclusion proof has a hash that is not 32 bytes")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise ProofInvalid("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofInvalid("inclusion proof is shorter than the tree is deep")
    if not hmac.compare_digest(r, root):
        raise ProofInvalid(f"inclusion proof of leaf {index} does not lead to the tree head")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: raise :class:`ProofInvalid` unless the tree of ``first`` leaves
    with head ``first_root`` is a prefix of the tree of ``second`` leaves, ``second_root``."""
    if not 0 < first <= second:
        raise ProofInvalid(f"no consistency between tree sizes {first} and {second}")
    if any(len(p) != HASH_SIZE for p in proof):
        raise ProofInvalid("consistency proof has a hash that is not 32 bytes")
    if first == second:
        if proof:
            raise ProofInvalid("consistency proof between equal sizes must be empty")
        if not hmac.compare_digest(first_root, second_root):
            raise ProofInvalid(f"two different tree heads for the same size {first}")
        return
    if not proof:
        raise ProofInvalid("consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofInvalid("consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofInvalid("consistency proof is shorter than needed")
    if not hmac.compare_digest(fr, first_root):
        raise ProofInvalid(f"consistency proof does not lead to the head of size {first}")
    if not hmac.compare_digest(sr, second_root):
        raise ProofInvalid(f"consistency proof does not lead to the head of size {second}")


@dataclass(frozen=True)
class LogTree:
    """The tree over a log's events, with the chain head it was computed beside."""

    tree: MerkleTree
    chain_head: str
    """Hex hash of the last event (64 zeros for an empty log)."""
    first_event: str
    """Hex hash of event 1 (empty for an empty log): names the log."""

    @property
    def size(self) -> int:
        return self.tree.size

    def root(self, size: int | None = None) -> bytes:
        return self.tree.root(size)


def tree_from_events(events: Iterable[StoredEvent]) -> LogTree:
    """The tree over ``events`` (1, 2, ... without gaps); each leaf's hash is recomputed
    from the stored body. Raises :class:`AuditIntegrityError` for a gap, a reordering or a
    body that does not match its recorded hash (full verification is ``tcr audit verify``)."""
    tree = MerkleTree()
    head = "0" * 64
    first = ""
    expected = 1
    for event in events:
        if event.seq != expected:
            raise AuditIntegrityError(expected, f"missing or out of order (found {event.seq})")
        digest = event_hash(event.body)
        if not hmac.compare_digest(digest.hex(), event.hash.lower()):
            raise AuditIntegrityError(expected, "content does not match its recorded hash")
        tree.append(digest)
        head = digest.hex()
        first = first or head
        expected += 1
    return LogTree(tree, head, first)
