"""The committed manifest vectors are reproducible and every implementation must obey them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from tcr_kit.custody.share_manifests import verify_manifest
from tcr_kit.errors import TcrError
from tcr_kit.sharing import native
from tcr_kit.sharing.manifest import check_share, parse_manifest

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
DATA = json.loads((VECTORS / "manifest.json").read_text(encoding="utf-8"))


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_manifest", VECTORS / "gen_manifest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_vectors_equal_a_fresh_generation() -> None:
    assert _load_generator().render() == (VECTORS / "manifest.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("vector", DATA["valid"], ids=lambda v: v["description"])
def test_every_share_checks_alone_and_the_extension_combines(vector: dict[str, Any]) -> None:
    signer = bytes.fromhex(DATA["signer"]["public_key_hex"])
    extender = bytes.fromhex(DATA["extender"]["public_key_hex"])
    manifest = parse_manifest(vector["manifest"].encode())
    verify_manifest(manifest, signer)
    assert manifest.signing_digest().hex() == vector["signed_digest_hex"]
    assert manifest.to_bytes().decode() == vector["manifest"]
    shares = [native.decode_share(bytes.fromhex(h), "s") for h in vector["shares_compact_hex"]]
    assert [check_share(manifest, s).index for s in shares] == list(range(1, vector["count"] + 1))
    ext = vector["extension"]
    revised = parse_manifest(ext["manifest"].encode())
    verify_manifest(revised, extender)
    assert revised.previous_sha256 == vector["signed_digest_hex"]
    assert [(n.index, n.replaces) for n in revised.new_shares] == [
        (ext["new_index"], ext["replaces"])
    ]
    new = native.decode_share(bytes.fromhex(ext["share_compact_hex"]), "new")
    assert check_share(revised, new).index == ext["new_index"]
    others = [s for s in shares if s.index != ext["replaces"]][: vector["threshold"] - 1]
    result = native.combine_shares([new, *others])
    try:
        assert bytes(result.secret.view()) == bytes.fromhex(vector["secret_hex"])
    finally:
        result.secret.wipe()


@pytest.mark.parametrize("vector", DATA["reject"], ids=lambda v: v["description"])
def test_must_reject_vectors_are_refused_with_their_error(vector: dict[str, Any]) -> None:
    with pytest.raises(TcrError) as info:
        manifest = parse_manifest(vector["manifest"].encode())
        verify_manifest(manifest)
        check_share(manifest, native.decode_share(bytes.fromhex(vector["share_compact_hex"]), "s"))
    assert type(info.value).__name__ == vector["error"]
    assert int(info.value.exit_code) == vector["exit_code"] == 3
