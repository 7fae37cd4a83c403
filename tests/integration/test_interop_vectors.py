"""The committed interop vectors are confirmed again by the real peer tools."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

VECTORS_DIR = Path(__file__).resolve().parents[2] / "vectors"


def test_peer_tools_confirm_committed_vectors(require_tool: Callable[[str], str]) -> None:
    require_tool("ssss-combine")
    require_tool("gfcombine")
    spec = importlib.util.spec_from_file_location("gen_interop", VECTORS_DIR / "gen_interop.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    doc = json.loads((VECTORS_DIR / "interop.json").read_text(encoding="utf-8"))
    generator.confirm(doc)  # raises SystemExit on any disagreement


def test_confirmation_catches_a_wrong_vector(require_tool: Callable[[str], str]) -> None:
    require_tool("ssss-combine")
    spec = importlib.util.spec_from_file_location("gen_interop", VECTORS_DIR / "gen_interop.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    doc = json.loads((VECTORS_DIR / "interop.json").read_text(encoding="utf-8"))
    doc["ssss"]["vectors"][1]["secret_hex"] = "00" * 8
    with pytest.raises(SystemExit):
        generator.confirm_ssss(doc["ssss"])
    doc["gf256"]["gfshare"]["mul_tables"]["57"] = "00" * 256
    with pytest.raises(SystemExit):
        generator.confirm_gfshare(doc["gfshare"], doc["gf256"]["gfshare"])
