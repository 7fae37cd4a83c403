"""Generate vectors/tlog.json: Merkle tree hashes, inclusion and consistency proofs, a
signed checkpoint note and a witness cosignature, all deterministic (fixed Ed25519 seeds,
fixed cosignature timestamp).

Run: ``.venv/bin/python vectors/gen_tlog.py`` (rewrites the file) or with ``--check``
(exit 1 if the committed file differs from a fresh generation). Confirmed by Go's reference
implementation (``golang.org/x/mod/sumdb/tlog`` and ``sumdb/note``) in
``tests/integration/test_interop_go_sumdb.py``: tree hashes, ``CheckRecord``, ``CheckTree``
and ``note.Open``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from Crypto.PublicKey import ECC

from tcr_kit.audit.merkle import MerkleTree
from tcr_kit.audit.note import Checkpoint, NoteSigner, sign
from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.audit.witness import Cosigner

OUT = Path(__file__).with_name("tlog.json")
LEAVES = 13
ORIGIN = "tcr-kit/vectors/0123456789abcdef"
WITNESS = "witness.example/vectors"
TIMESTAMP = 1764633600  # 2025-12-02T00:00:00Z


def _key(label: str) -> SoftwareEd25519Signer:
    seed = hashlib.sha256(f"tcr-kit tlog vector key {label}".encode()).digest()
    return SoftwareEd25519Signer(ECC.construct(curve="Ed25519", seed=seed))


def b64(h: bytes) -> str:
    return base64.b64encode(h).decode("ascii")


def generate() -> dict[str, Any]:
    data = [
        hashlib.sha256(f"tcr-kit tlog vector leaf {i}".encode()).digest() for i in range(LEAVES)
    ]
    tree = MerkleTree.from_data(data)
    inclusion = [
        {"index": i, "size": n, "leaf_hash": b64(tree.leaf(i)), "root": b64(tree.root(n)),
         "proof": [b64(p) for p in tree.inclusion_proof(i, n)]}
        for n, i in ((1, 0), (2, 1), (5, 4), (8, 3), (13, 0), (13, 6), (13, 12))
    ]  # fmt: skip
    consistency = [
        {"first": m, "second": n, "first_root": b64(tree.root(m)), "second_root": b64(tree.root(n)),
         "proof": [b64(p) for p in tree.consistency_proof(m, n)]}
        for m, n in ((1, 1), (1, 2), (3, 7), (4, 8), (6, 13), (8, 13), (12, 13))
    ]  # fmt: skip
    log = NoteSigner(ORIGIN, _key("log"))
    note = sign(Checkpoint(ORIGIN, LEAVES, tree.root()).to_text(), [log])
    witness = Cosigner(WITNESS, _key("witness"))
    cosigned = witness.cosign(note, TIMESTAMP)
    return {
        "description": "tcr-kit public-log vectors: RFC 6962 tree (leaf data = event hashes), "
        "RFC 9162 proofs (base64), a C2SP checkpoint note and a tlog-cosignature/v1 line",
        "generator": "vectors/gen_tlog.py",
        "tree": {
            "leaf_data_hex": [d.hex() for d in data],
            "roots": [b64(tree.root(n)) for n in range(LEAVES + 1)],
        },
        "inclusion": inclusion,
        "consistency": consistency,
        "note": {
            "origin": ORIGIN,
            "verifier_key": log.verifier.verifier_key(),
            "signed_note": note,
            "witness_key": witness.verifier.verifier_key(),
            "cosigned_note": cosigned,
            "reject": _rejects(note),
        },
    }


def _rejects(note: str) -> list[dict[str, str]]:
    size_changed = note.replace(f"\n{LEAVES}\n", f"\n{LEAVES - 1}\n")
    renamed = note.replace(f"\u2014 {ORIGIN} ", f"\u2014 {ORIGIN}x ")
    return [
        {"description": "tree size changed", "signed_note": size_changed},
        {"description": "signed under another key name", "signed_note": renamed},
    ]


def render() -> str:
    return json.dumps(generate(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        return 0 if OUT.read_text(encoding="utf-8") == text else 1
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
