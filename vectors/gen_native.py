"""Generate vectors/native.json: native-format shares from a seeded randomness source.

Run: ``.venv/bin/python vectors/gen_native.py`` (rewrites the file) or with ``--check``
(exit 1 if the committed file differs from a fresh generation). Each valid vector is
cross-checked while generating: the payload points are interpolated at 0 by the SLIP-39
reference library's own GF(2^8) code (``shamir_mnemonic.shamir._interpolate``, same Rijndael
field, an independent implementation) and must give the secret.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

from tcr_kit.errors import TcrError
from tcr_kit.secrets import random_source
from tcr_kit.sharing import native

OUT = Path(__file__).with_name("native.json")


class Seeded:
    """Deterministic bytes: SHAKE-256(seed || counter), for vectors only."""

    def __init__(self, seed: bytes) -> None:
        self.seed = seed
        self.counter = 0

    def __call__(self, n: int) -> bytes:
        self.counter += 1
        return hashlib.shake_256(self.seed + self.counter.to_bytes(8, "big")).digest(n)


VALID = [
    ("1-byte secret, 2 of 3", b"\x2a", 2, 3, None),
    ("6-digit PIN, 3 of 5, labelled", b"314159", 3, 5, "HSM-EAST activation"),
    ("AES-256 key, 3 of 7 (KSK ceremony CO quorum)", bytes(range(32)), 3, 7, "KMF-W SMK"),
    ("threshold 1 of 2", b"solo", 1, 2, None),
    ("5 of 7 RKSH, 64-byte secret", bytes(range(64, 128)), 5, 7, "recovery"),
    ("UTF-8 label", b"\x00\xff\x10", 2, 2, "clé ☃"),
]


def _payload_points(shares: list[native.NativeShare]) -> list[tuple[int, bytes]]:
    points = []
    for s in shares:
        body = s.body()
        start = len(s.header.head_bytes()) + native.KEY_SIZE
        points.append((s.index, body[start : start + s.secret_length]))
    return points


def _cross_check(secret: bytes, shares: list[native.NativeShare]) -> None:
    from shamir_mnemonic.shamir import RawShare, _interpolate

    points = _payload_points(shares)[: shares[0].threshold]
    got = _interpolate([RawShare(x, y) for x, y in points], 0)
    if got != secret:
        raise SystemExit("cross-check with shamir_mnemonic failed")


def _reforge(compact: bytes, position: int, xor: int = 0x01) -> str:
    """Flip bits of the body at ``position`` and recompute the CRC, as a forger would."""
    body = bytearray(compact[4:])
    body[position] ^= xor
    body[-4:] = struct.pack(">I", zlib.crc32(bytes(body[:-4])))
    return (native.MAGIC + bytes(body)).hex()


def _error_of(shares_hex: list[str]) -> dict[str, Any]:
    try:
        shares = [
            native.decode_share(bytes.fromhex(h), f"share {i}") for i, h in enumerate(shares_hex, 1)
        ]
        native.combine_shares(shares).secret.wipe()
    except TcrError as exc:
        return {"error": type(exc).__name__, "exit_code": int(exc.exit_code)}
    raise SystemExit("a must-reject vector was accepted")


def generate() -> dict[str, Any]:
    valid = []
    reject = []
    for n, (description, secret, m, count, label) in enumerate(VALID):
        seed = hashlib.sha256(f"tcr-kit native vector {n}".encode()).digest()
        with random_source(Seeded(seed)):
            shares = native.split_bytes(secret, m, count, label=label)
        _cross_check(secret, shares)
        valid.append(
            {
                "description": description,
                "secret_hex": secret.hex(),
                "threshold": m,
                "count": count,
                "label": label or "",
                "seed_hex": seed.hex(),
                "set_id_hex": shares[0].set_id_hex,
                "shares_compact_hex": [s.encode_compact().hex() for s in shares],
                "shares_text": [s.encode_text() for s in shares],
                "confirmed_by": "payload interpolation by shamir_mnemonic 0.3 (_interpolate)",
            }
        )
    base = valid[2]
    compact = [bytes.fromhex(h) for h in base["shares_compact_hex"]]
    m = base["threshold"]
    typo = bytearray(compact[1])
    typo[30] ^= 0x10
    cases = [
        ("one share too few", [c.hex() for c in compact[: m - 1]]),
        (
            "single corrupted byte, checksum catches it",
            [compact[0].hex(), typo.hex(), compact[2].hex()],
        ),
        (
            "payload bit flipped and CRC recomputed (forgery), no spare share",
            [compact[0].hex(), compact[1].hex(), _reforge(compact[2], 40)],
        ),
        (
            "share of another set",
            [compact[0].hex(), compact[1].hex(), valid[4]["shares_compact_hex"][2]],
        ),
        ("same share twice", [compact[0].hex(), compact[0].hex(), compact[1].hex()]),
        ("unsupported version 3 with a valid checksum", [_reforge(compact[0], 0, 0x02)]),
    ]
    for description, shares_hex in cases:
        reject.append(
            {"description": description, "shares_compact_hex": shares_hex, **_error_of(shares_hex)}
        )
    return {
        "description": "tcr-kit native share format v1 vectors (docs/formats.md)",
        "generator": "vectors/gen_native.py (seeded SHAKE-256 randomness)",
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
