"""vectors/interop.json: equals a fresh seeded generation, and every vector holds."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tcr_kit.sharing.errors import ShareError
from tcr_kit.sharing.formats import gfshare, slip39, ssss, vault
from tcr_kit.sharing.gf256 import GFSHARE_POLY, RIJNDAEL_POLY, field

VECTORS_DIR = Path(__file__).resolve().parents[2] / "vectors"
COMMITTED = VECTORS_DIR / "interop.json"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_interop", VECTORS_DIR / "gen_interop.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(COMMITTED.read_text(encoding="utf-8"))
    return data


def test_committed_vectors_equal_a_fresh_generation() -> None:
    generator = _generator()
    assert generator.render(generator.build()) == COMMITTED.read_text(encoding="utf-8")


def test_every_vector_records_its_confirmation(doc: dict[str, Any]) -> None:
    for name in ("ssss", "gfshare", "vault", "slip39"):
        assert doc[name]["vectors"]
        assert all(v["confirmed_by"] for v in doc[name]["vectors"])
    assert doc["gf256"]["rijndael"]["confirmed_by"] and doc["gf256"]["gfshare"]["confirmed_by"]


def test_rijndael_arithmetic_matches_fips_197_examples(doc: dict[str, Any]) -> None:
    gf = field(RIJNDAEL_POLY)
    assert gf.mul(0x57, 0x83) == 0xC1
    assert gf.mul(0x57, 0x13) == 0xFE
    assert gf.inv(0x53) == 0xCA
    products = {(p["a"], p["b"]): p["product"] for p in doc["gf256"]["rijndael"]["products"]}
    assert products[("57", "83")] == "c1" and products[("57", "13")] == "fe"


@pytest.mark.parametrize(("name", "poly"), [("rijndael", RIJNDAEL_POLY), ("gfshare", GFSHARE_POLY)])
def test_gf256_vectors_hold(doc: dict[str, Any], name: str, poly: int) -> None:
    gf = field(poly)
    section = doc["gf256"][name]
    for p in section["products"]:
        assert gf.mul(int(p["a"], 16), int(p["b"], 16)) == int(p["product"], 16)
    for i in section["inverses"]:
        assert gf.mul(int(i["a"], 16), int(i["inverse"], 16)) == 1
    for factor, table in section["mul_tables"].items():
        assert gf.mul_table(int(factor, 16)).hex() == table


def test_ssss_vectors_hold(doc: dict[str, Any]) -> None:
    for vector in doc["ssss"]["vectors"]:
        shares = [ssss.parse(t, t) for t in vector["shares"][: vector["threshold"]]]
        result = ssss.combine(
            shares,
            threshold=vector["threshold"],
            diffusion=vector["diffusion"],
            hex=vector["hex_mode"],
        )
        expected = bytes.fromhex(vector["secret_hex"])
        if vector["hex_mode"]:
            expected = expected.rjust(vector["bits"] // 8, b"\0")
        assert bytes(result.secret.raw) == expected
    for case in doc["ssss"]["must_reject"]:
        with pytest.raises(ShareError):
            ssss.parse(case["share"], "reject")


def test_gfshare_vectors_hold(doc: dict[str, Any], tmp_path: Path) -> None:
    for number, vector in enumerate(doc["gfshare"]["vectors"]):
        directory = tmp_path / str(number)
        directory.mkdir()
        paths = []
        for name, content in vector["shares"].items():
            (directory / name).write_bytes(bytes.fromhex(content))
            paths.append(directory / name)
        sink = io.BytesIO()
        gfshare.combine_paths(paths, sink, threshold=vector["threshold"])
        assert sink.getvalue().hex() == vector["secret_hex"]
    for name in doc["gfshare"]["must_reject_names"]:
        with pytest.raises(ShareError):
            gfshare.index_from_name(name)


def test_vault_vectors_hold(doc: dict[str, Any]) -> None:
    for vector in doc["vault"]["vectors"]:
        shares = [vault.parse(t, t) for t in vector["shares"]]
        assert [s.index for s in shares] == list(range(1, vector["count"] + 1))
        result = vault.combine(shares, threshold=vector["threshold"])
        assert bytes(result.secret.raw).hex() == vector["secret_hex"]
    for case in doc["vault"]["must_reject"]:
        with pytest.raises(ShareError):
            vault.parse(case["share"], "reject")


def test_slip39_vectors_hold(doc: dict[str, Any]) -> None:
    for vector in doc["slip39"]["vectors"]:
        shares = [slip39.parse(m, f"m{i}") for i, m in enumerate(vector["mnemonics"])]
        result = slip39.combine(shares, passphrase=vector["passphrase"].encode())
        assert bytes(result.secret.raw).hex() == vector["secret_hex"] and result.verified
