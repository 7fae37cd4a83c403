"""Generate vectors/manifest.json: signed share-set manifests and an extended set.

Run: ``.venv/bin/python vectors/gen_manifest.py`` (rewrites the file) or with ``--check``
(exit 1 if the committed file differs from a fresh generation). Everything is reproducible:
the splits draw from a seeded SHAKE-256 source, Ed25519 signatures are deterministic
(RFC 8032) under a fixed seed, the signing time is fixed, and an extension has no
randomness at all. Each extended share is cross-checked while generating: its payload must
equal the Lagrange interpolation at its index of the split's payload points, computed by the
SLIP-39 reference library's own GF(2^8) code (``shamir_mnemonic.shamir._interpolate``, an
independent implementation of the same field).
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from Crypto.PublicKey import ECC

from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.custody.share_manifests import sign_manifest, verify_manifest
from tcr_kit.errors import TcrError
from tcr_kit.secrets import random_source
from tcr_kit.sharing import native
from tcr_kit.sharing.manifest import ManifestEntry, ShareManifest, check_share, parse_manifest
from tcr_kit.sharing.native_extend import extend_bytes

OUT = Path(__file__).with_name("manifest.json")
SIGNER_SEED = hashlib.sha256(b"tcr-kit manifest vector signer").digest()
EXTENDER_SEED = hashlib.sha256(b"tcr-kit manifest vector extender").digest()
SIGNED_AT = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


class Seeded:
    """Deterministic bytes: SHAKE-256(seed || counter), for vectors only."""

    def __init__(self, seed: bytes) -> None:
        self.seed = seed
        self.counter = 0

    def __call__(self, n: int) -> bytes:
        self.counter += 1
        return hashlib.shake_256(self.seed + self.counter.to_bytes(8, "big")).digest(n)


def signer(seed: bytes) -> SoftwareEd25519Signer:
    return SoftwareEd25519Signer(ECC.construct(curve="Ed25519", seed=seed))


# description, secret, m, n, label, basis for the extension, new index, replaced index
VALID = [
    ("6-digit PIN, 2 of 3, one share added replacing share 2", b"271828", 2, 3, "HSM-A PIN",
     [1, 3], 4, 2),
    ("AES-256 key, 3 of 5, share 6 added (none replaced)", bytes(range(32)), 3, 5, "KMF-E SMK",
     [5, 2, 4], 6, None),
]  # fmt: skip


def _split(n: int, secret: bytes, m: int, count: int, label: str) -> list[native.NativeShare]:
    seed = hashlib.sha256(f"tcr-kit manifest vector {n}".encode()).digest()
    with random_source(Seeded(seed)):
        return native.split_bytes(secret, m, count, label=label)


def _manifest(shares: list[native.NativeShare], names: list[str]) -> ShareManifest:
    h = shares[0].header
    record = native.SplitManifest(
        h.set_id, h.threshold, h.count, h.secret_length, h.label, [s.digest() for s in shares]
    ).record(names)
    unsigned = parse_manifest(native.canonical_json(record))
    return sign_manifest(unsigned, signer(SIGNER_SEED), "sa-1", at=SIGNED_AT)


def _cross_check(shares: list[native.NativeShare], new: native.NativeShare) -> None:
    from shamir_mnemonic.shamir import RawShare, _interpolate

    m = shares[0].threshold
    points = []
    for s in shares[:m]:
        start = len(s.header.head_bytes()) + native.KEY_SIZE
        points.append(RawShare(s.index, s.body()[start : start + s.secret_length]))
    start = len(new.header.head_bytes()) + native.KEY_SIZE
    if _interpolate(points, new.index) != new.body()[start : start + new.secret_length]:
        raise SystemExit("cross-check of the extended share with shamir_mnemonic failed")


def _reforge(share: native.NativeShare, position: int) -> str:
    body = bytearray(share.body())
    body[position] ^= 0x01
    body[-4:] = struct.pack(">I", zlib.crc32(bytes(body[:-4])))
    return (native.MAGIC + bytes(body)).hex()


def _error_of(share_hex: str, manifest_text: str) -> dict[str, Any]:
    try:
        manifest = parse_manifest(manifest_text.encode("utf-8"))
        verify_manifest(manifest)
        check_share(manifest, native.decode_share(bytes.fromhex(share_hex), "share"))
    except TcrError as exc:
        return {"error": type(exc).__name__, "exit_code": int(exc.exit_code)}
    raise SystemExit("a must-reject vector was accepted")


def generate() -> dict[str, Any]:
    valid = []
    sets = []
    for n, (description, secret, m, count, label, basis, new_index, replaces) in enumerate(VALID):
        shares = _split(n, secret, m, count, label)
        names = [f"secret.share-{s.index:03d}.txt" for s in shares]
        manifest = _manifest(shares, names)
        by_index = {s.index: s for s in shares}
        new = extend_bytes([by_index[i] for i in basis], [new_index])[0]
        _cross_check(shares, new)
        entry = ManifestEntry(
            index=new_index, sha256=new.digest().hex(), file=f"secret.share-{new_index:03d}.txt"
        )
        revised = manifest.next_revision([entry], {new_index: replaces} if replaces else {})
        revised = sign_manifest(revised, signer(EXTENDER_SEED), "ca-1", at=SIGNED_AT)
        sets.append((shares, manifest, new, revised))
        valid.append(
            {
                "description": description,
                "secret_hex": secret.hex(),
                "threshold": m,
                "count": count,
                "label": label,
                "shares_compact_hex": [s.encode_compact().hex() for s in shares],
                "manifest": manifest.to_bytes().decode("utf-8"),
                "signed_digest_hex": manifest.signing_digest().hex(),
                "extension": {
                    "basis_indices": basis,
                    "new_index": new_index,
                    "replaces": replaces,
                    "share_compact_hex": new.encode_compact().hex(),
                    "manifest": revised.to_bytes().decode("utf-8"),
                    "signed_digest_hex": revised.signing_digest().hex(),
                },
            }
        )
    shares, manifest, new, revised = sets[0]
    other_shares = sets[1][0]
    text = manifest.to_bytes().decode("utf-8")
    forged = json.loads(text)
    forged["threshold"] = 1
    payload_byte = len(shares[1].header.head_bytes()) + native.KEY_SIZE + 3
    cases = [
        ("share of another set", other_shares[0].encode_compact().hex(), text),
        ("altered payload, CRC recomputed", _reforge(shares[1], payload_byte), text),
        ("mistyped share (CRC fails)", shares[2].encode_compact().hex()[:-2] + "00", text),
        ("index added by a later revision", new.encode_compact().hex(), text),
        ("manifest field changed after signing", shares[0].encode_compact().hex(),
         json.dumps(forged, sort_keys=True)),
    ]  # fmt: skip
    reject = [
        {"description": d, "share_compact_hex": s, "manifest": m, **_error_of(s, m)}
        for d, s, m in cases
    ]
    return {
        "description": "tcr-kit signed share-set manifests and extended sets (docs/formats.md)",
        "generator": "vectors/gen_manifest.py (seeded splits, fixed Ed25519 seeds and time)",
        "signer": {"id": "sa-1", "public_key_hex": signer(SIGNER_SEED).public_key_bytes().hex()},
        "extender": {
            "id": "ca-1",
            "public_key_hex": signer(EXTENDER_SEED).public_key_bytes().hex(),
        },
        "confirmed_by": "extended payloads: shamir_mnemonic 0.3 (_interpolate at the new index)",
        "valid": valid,
        "reject": reject,
    }


def render() -> str:
    return json.dumps(generate(), indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        return 0 if OUT.read_text(encoding="utf-8") == text else 1
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
