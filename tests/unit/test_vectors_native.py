"""The committed native vectors are reproducible and every implementation must obey them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from tcr_kit.errors import TcrError
from tcr_kit.sharing import native

VECTORS = Path(__file__).resolve().parents[2] / "vectors"


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_native", VECTORS / "gen_native.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DATA = json.loads((VECTORS / "native.json").read_text(encoding="utf-8"))


def test_committed_vectors_equal_a_fresh_generation() -> None:
    assert _load_generator().render() == (VECTORS / "native.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("vector", DATA["valid"], ids=lambda v: v["description"])
def test_valid_vectors_combine_from_text_and_compact(vector: dict[str, Any]) -> None:
    secret = bytes.fromhex(vector["secret_hex"])
    m = vector["threshold"]
    compact = [
        native.decode_share(bytes.fromhex(h), f"c{i}")
        for i, h in enumerate(vector["shares_compact_hex"])
    ]
    text = [native.decode_share(t, f"t{i}") for i, t in enumerate(vector["shares_text"])]
    assert bytes(native.combine_shares(compact[-m:]).secret.view()) == secret
    assert bytes(native.combine_shares(text[:m]).secret.view()) == secret
    assert all(s.label == vector["label"] for s in compact)


@pytest.mark.parametrize("vector", DATA["reject"], ids=lambda v: v["description"])
def test_reject_vectors_fail_with_their_exit_code(vector: dict[str, Any]) -> None:
    with pytest.raises(TcrError) as info:
        shares = [
            native.decode_share(bytes.fromhex(h), f"share {i}")
            for i, h in enumerate(vector["shares_compact_hex"], 1)
        ]
        native.combine_shares(shares)
    assert type(info.value).__name__ == vector["error"]
    assert int(info.value.exit_code) == vector["exit_code"]
