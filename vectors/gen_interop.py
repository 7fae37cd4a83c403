#!/usr/bin/env python3
"""Generate ``vectors/interop.json``: seeded interop vectors for the peer share formats.

    python vectors/gen_interop.py            # regenerate, confirm with the real peer tools
    python vectors/gen_interop.py --check    # compare the committed file with a fresh build

Randomness comes from SHAKE-256 over a fixed seed through ``tcr_kit.secrets.random_source``,
so a fresh build is byte-for-byte the committed file (``tests/unit/test_vectors_interop.py`` checks
that without any peer binary). When writing, every ssss vector is combined by the real
``ssss-combine``, every gfshare vector by the real ``gfcombine``, the gfshare GF(2^8)
multiplication tables are computed by ``gfcombine`` itself and the SLIP-39 vectors by the
reference library; the script refuses to write a vector a peer does not confirm.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tcr_kit.secrets import random_source  # noqa: E402
from tcr_kit.sharing.formats import gfshare, slip39, ssss, vault  # noqa: E402
from tcr_kit.sharing.gf256 import GFSHARE_POLY, RIJNDAEL_POLY, field  # noqa: E402

OUTPUT = Path(__file__).resolve().parent / "interop.json"
SEED = b"tcr-kit interop vectors v1"
FORMAT_VERSION = 1


class ShakeSource:
    """Deterministic byte stream: SHAKE-256(seed || label || counter) blocks."""

    def __init__(self, seed: bytes, label: str) -> None:
        self._prefix = seed + b"/" + label.encode()
        self._counter = 0

    def __call__(self, n: int) -> bytes:
        out = hashlib.shake_256(self._prefix + self._counter.to_bytes(8, "big")).digest(n)
        self._counter += 1
        return out


def _secret(label: str, size: int) -> bytes:
    return hashlib.shake_256(SEED + b"/secret/" + label.encode()).digest(size)


# --- GF(2^8) --------------------------------------------------------------------------------

GF_FACTORS = [0x02, 0x03, 0x13, 0x57, 0x83, 0xE5, 0xFF]


def _gf_section(poly: int) -> dict[str, Any]:
    gf = field(poly)
    products = [
        {"a": f"{a:02x}", "b": f"{b:02x}", "product": f"{gf.mul(a, b):02x}"}
        for a in GF_FACTORS
        for b in (0x01, 0x13, 0x83, 0xCA, 0xFF)
    ]
    inverses = [
        {"a": f"{a:02x}", "inverse": f"{gf.inv(a):02x}"} for a in (0x01, 0x02, 0x53, 0x57, 0xFF)
    ]
    return {
        "polynomial": f"{poly:#05x}",
        "generator": f"{gf.generator:#04x}",
        "products": products,
        "inverses": inverses,
        "mul_tables": {f"{a:02x}": gf.mul_table(a).hex() for a in GF_FACTORS},
    }


def build_gf256() -> dict[str, Any]:
    rijndael = _gf_section(RIJNDAEL_POLY)
    rijndael["confirmed_by"] = (
        "FIPS-197 section 4.2 worked examples ({57}*{83} = {c1}, {57}*{13} = {fe}, "
        "{53}^-1 = {ca}), checked by the test; Vault-made shares (vault-shamir-vectors.json) "
        "combine with this arithmetic"
    )
    gfs = _gf_section(GFSHARE_POLY)
    gfs["confirmed_by"] = (
        "gfcombine (libgfshare 2.0.0): each mul_tables row is the output of gfcombine on two "
        "crafted shares whose Lagrange weight is that factor"
    )
    return {
        "description": "Products, inverses and whole multiplication tables in GF(2^8).",
        "rijndael": rijndael,
        "gfshare": gfs,
    }


# --- formats ----------------------------------------------------------------------------------

SSSS_CASES: list[dict[str, Any]] = [
    {"size": 1, "threshold": 2, "count": 3, "diffusion": True, "hex": True, "token": None},
    {"size": 8, "threshold": 3, "count": 5, "diffusion": True, "hex": True, "token": None},
    {"size": 8, "threshold": 3, "count": 5, "diffusion": False, "hex": True, "token": None},
    {"size": 17, "threshold": 2, "count": 12, "diffusion": True, "hex": True, "token": "ksk"},
    {"size": 32, "threshold": 4, "count": 7, "diffusion": True, "hex": True, "token": None},
    {"size": 32, "threshold": 4, "count": 7, "diffusion": False, "hex": True, "token": None},
    {"size": 128, "threshold": 2, "count": 2, "diffusion": True, "hex": True, "token": None},
    {"ascii": "root password 1", "threshold": 3, "count": 5, "diffusion": True, "token": "pw"},
    {"ascii": "pin", "bits": 64, "threshold": 2, "count": 3, "diffusion": True, "token": None},
]

SSSS_REJECT = [
    {"share": "0-ab", "reason": "index 0 would be the secret itself"},
    {"share": "1-abc", "reason": "odd number of hex digits: no ssss field"},
    {"share": "256-ab", "reason": "x = 256 lies outside GF(2^8) (ssss-split writes it for -n 256)"},
    {"share": "1-" + "00" * 129, "reason": "wider than 1024 bits"},
    {"share": "a b-1-ab", "reason": "token with a space"},
]


def build_ssss() -> dict[str, Any]:
    vectors = []
    for number, case in enumerate(SSSS_CASES):
        ascii_text = case.get("ascii")
        secret = ascii_text.encode() if ascii_text else _secret(f"ssss{number}", case["size"])
        hex_mode = ascii_text is None
        with random_source(ShakeSource(SEED, f"ssss{number}")):
            shares = ssss.split(
                secret,
                case["threshold"],
                case["count"],
                token=case["token"],
                diffusion=case["diffusion"],
                hex=hex_mode,
                bits=case.get("bits"),
            )
        vectors.append(
            {
                "secret_hex": secret.hex(),
                "secret_ascii": ascii_text,
                "threshold": case["threshold"],
                "count": case["count"],
                "token": case["token"],
                "diffusion": case["diffusion"],
                "hex_mode": hex_mode,
                "bits": case.get("bits") or 8 * len(secret),
                "shares": shares,
                "confirmed_by": "ssss-combine 0.5 (Debian ssss 0.5-5), with the last "
                "threshold shares and the matching -x / -D flags",
            }
        )
    return {
        "description": "ssss shares made by tcr_kit.sharing.formats.ssss.split; any threshold "
        "of them give the secret with ssss-combine -t threshold [-x] [-D].",
        "vectors": vectors,
        "must_reject": SSSS_REJECT,
    }


GFSHARE_CASES = [(1, 2, 2), (31, 3, 5), (256, 2, 4)]


def build_gfshare() -> dict[str, Any]:
    vectors = []
    for number, (size, threshold, count) in enumerate(GFSHARE_CASES):
        secret = _secret(f"gfshare{number}", size)
        with (
            tempfile.TemporaryDirectory() as tmp,
            random_source(ShakeSource(SEED, f"gfshare{number}")),
        ):
            paths = gfshare.split_stream(io.BytesIO(secret), threshold, count, Path(tmp), "s")
            shares = {p.name: p.read_bytes().hex() for p in paths}
        vectors.append(
            {
                "secret_hex": secret.hex(),
                "threshold": threshold,
                "count": count,
                "shares": shares,
                "confirmed_by": "gfcombine (libgfshare 2.0.0) with the last threshold shares",
            }
        )
    return {
        "description": "gfshare share files made by tcr_kit.sharing.formats.gfshare.split_stream "
        "(file name -> content in hex); x is the three-digit file-name suffix.",
        "vectors": vectors,
        "must_reject_names": ["s", "s.000", "s.256", "s.01", "s.0001"],
    }


VAULT_CASES = [(1, 2, 3, "base64"), (16, 3, 5, "hex"), (32, 3, 5, "base64")]


def build_vault() -> dict[str, Any]:
    vectors = []
    for number, (size, threshold, count, encoding) in enumerate(VAULT_CASES):
        secret = _secret(f"vault{number}", size)
        with random_source(ShakeSource(SEED, f"vault{number}")):
            shares = vault.split(secret, threshold, count, encoding=encoding)  # type: ignore[arg-type]
        vectors.append(
            {
                "secret_hex": secret.hex(),
                "threshold": threshold,
                "count": count,
                "encoding": encoding,
                "shares": shares,
                "confirmed_by": "tcr-kit's Vault combine, itself tested against shares made by "
                "Vault's own shamir package (vault-shamir-vectors.json); no Vault binary here",
            }
        )
    return {
        "description": "Vault unseal key shares made by tcr_kit.sharing.formats.vault.split "
        "(y bytes then x byte, x = 1..n).",
        "vectors": vectors,
        "must_reject": [
            {"share": "abcd00", "reason": "x byte 0"},
            {"share": "01", "reason": "no secret byte"},
            {"share": "IsiUoe4YklmdW6yVBqdK6wF=", "reason": "non-canonical base64"},
        ],
    }


SLIP39_CASES = [(16, 2, 3, b"", True), (32, 3, 5, b"TREZOR", False)]


def build_slip39() -> dict[str, Any]:
    vectors = []
    for number, (size, threshold, count, passphrase, extendable) in enumerate(SLIP39_CASES):
        secret = _secret(f"slip39-{number}", size)
        with random_source(ShakeSource(SEED, f"slip39-{number}")):
            mnemonics = slip39.split(
                secret,
                threshold,
                count,
                passphrase=passphrase,
                iteration_exponent=0,
                extendable=extendable,
            )
        vectors.append(
            {
                "secret_hex": secret.hex(),
                "threshold": threshold,
                "count": count,
                "passphrase": passphrase.decode(),
                "iteration_exponent": 0,
                "extendable": extendable,
                "mnemonics": mnemonics,
                "confirmed_by": "shamir_mnemonic.combine_mnemonics (the SLIP-39 reference "
                "implementation) with the last threshold mnemonics",
            }
        )
    return {
        "description": "Single-group SLIP-39 mnemonics made by tcr_kit.sharing.formats.slip39.",
        "vectors": vectors,
    }


def build() -> dict[str, Any]:
    """The whole vector document; deterministic, needs no peer binary."""
    return {
        "description": "tcr-kit interop vectors for the peer share formats (ssss, gfshare, "
        "Vault, SLIP-39) and GF(2^8) arithmetic. Inputs, expected outputs, must-reject "
        "cases, and which independent implementation confirmed each vector.",
        "format_version": FORMAT_VERSION,
        "generator": "vectors/gen_interop.py",
        "seed": SEED.decode(),
        "gf256": build_gf256(),
        "ssss": build_ssss(),
        "gfshare": build_gfshare(),
        "vault": build_vault(),
        "slip39": build_slip39(),
    }


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


# --- confirmation by the peers -----------------------------------------------------------------


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"gen_interop: {name} is needed to confirm the vectors")
    return path


def confirm_ssss(section: dict[str, Any]) -> None:
    combine = _tool("ssss-combine")
    for vector in section["vectors"]:
        chosen = vector["shares"][-vector["threshold"] :]
        args = [combine, "-Q", "-t", str(vector["threshold"])]
        args += ["-x"] if vector["hex_mode"] else []
        args += [] if vector["diffusion"] else ["-D"]
        out = subprocess.run(
            args, input="\n".join(chosen) + "\n", capture_output=True, text=True, check=True
        ).stderr.strip()
        got = bytes.fromhex(out) if vector["hex_mode"] else out.encode()
        expected = bytes.fromhex(vector["secret_hex"])
        if vector["hex_mode"]:
            expected = expected.rjust(vector["bits"] // 8, b"\0")
        if got != expected:
            raise SystemExit(f"ssss-combine disagrees on {vector['shares'][0]}: {out}")


def _gfcombine(combine: str, files: dict[str, bytes]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, data in files.items():
            path = Path(tmp) / name
            path.write_bytes(data)
            paths.append(str(path))
        out = Path(tmp) / "out"
        subprocess.run([combine, "-o", str(out), *paths], check=True, capture_output=True)
        return out.read_bytes()


def confirm_gfshare(section: dict[str, Any], gf_section: dict[str, Any]) -> None:
    combine = _tool("gfcombine")
    for vector in section["vectors"]:
        names = sorted(vector["shares"])[-vector["threshold"] :]
        files = {n: bytes.fromhex(vector["shares"][n]) for n in names}
        if _gfcombine(combine, files) != bytes.fromhex(vector["secret_hex"]):
            raise SystemExit(f"gfcombine disagrees on gfshare vector {names}")
    gf = field(GFSHARE_POLY)
    every_byte = bytes(range(256))
    for factor_hex, table_hex in gf_section["mul_tables"].items():
        a = int(factor_hex, 16)
        if a == 1:
            continue
        # Shares at x1 = 1 (every byte value) and x2 = a / (1 + a) (zeros): gfcombine's output
        # is the Lagrange weight x2 / (x1 + x2) = a times every byte value.
        x2 = gf.div(a, 1 ^ a)
        files = {"t.001": every_byte, f"t.{x2:03d}": bytes(256)}
        if _gfcombine(combine, files).hex() != table_hex:
            raise SystemExit(f"gfcombine disagrees on the 0x11d table of {factor_hex}")


def confirm_slip39(section: dict[str, Any]) -> None:
    from shamir_mnemonic import combine_mnemonics

    for vector in section["vectors"]:
        chosen = vector["mnemonics"][-vector["threshold"] :]
        got = combine_mnemonics(chosen, vector["passphrase"].encode())
        if got.hex() != vector["secret_hex"]:
            raise SystemExit("shamir-mnemonic disagrees on a SLIP-39 vector")


def confirm_vault(section: dict[str, Any]) -> None:
    for vector in section["vectors"]:
        texts = vector["shares"][-vector["threshold"] :]
        shares = [vault.parse(t, t) for t in texts]
        result = vault.combine(shares)
        if bytes(result.secret.raw).hex() != vector["secret_hex"]:
            raise SystemExit("Vault vector does not combine")
        for text in texts:
            raw = base64.b64decode(text) if vector["encoding"] == "base64" else bytes.fromhex(text)
            if not 1 <= raw[-1] <= vector["count"]:
                raise SystemExit("Vault vector x byte outside 1..n")


def confirm(doc: dict[str, Any]) -> None:
    """Have the independent implementations confirm every vector (needs the peer tools)."""
    confirm_ssss(doc["ssss"])
    confirm_gfshare(doc["gfshare"], doc["gf256"]["gfshare"])
    confirm_slip39(doc["slip39"])
    confirm_vault(doc["vault"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    text = render(build())
    if args.check:
        if OUTPUT.read_text(encoding="utf-8") != text:
            sys.stderr.write(f"{OUTPUT} differs from a fresh generation\n")
            return 1
        return 0
    confirm(json.loads(text))
    OUTPUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
