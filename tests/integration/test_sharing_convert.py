"""Share conversion at library level, checked against the real ssss and gfshare tools."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tcr_kit.errors import FileExistsRefused
from tcr_kit.sharing import convert, dispatch, files
from tcr_kit.sharing.errors import NotEnoughSharesError
from tcr_kit.sharing.formats import ForeignOptions

Tool = Callable[[str], str]


def _native_set(tmp_path: Path, secret: bytes, m: int = 2, n: int = 3) -> list[Path]:
    out = tmp_path / "native"
    out.mkdir()
    outcome = dispatch.split_to_dir("native", io.BytesIO(secret), m, n, out, "key.bin")
    return outcome.paths


def test_native_converted_to_ssss_is_read_by_ssss_combine(
    require_tool: Tool, tmp_path: Path
) -> None:
    combine_tool = require_tool("ssss-combine")
    secret = bytes.fromhex("00c0ffee") + os.urandom(12)
    shares = _native_set(tmp_path, secret)
    out = tmp_path / "ssss"
    out.mkdir()
    detected = dispatch.detect_set([shares[0], shares[2]])
    result, outcome = convert.convert_shares(
        detected, "ssss", out, ForeignOptions(ssss_token="kmf")
    )
    assert result.verified and len(result.used) == 2
    assert isinstance(outcome, dispatch.PeerSplit)
    assert [p.name for p in outcome.paths] == [f"key.bin.ssss-00{i}.txt" for i in (1, 2, 3)]
    lines = outcome.paths[2].read_text() + outcome.paths[0].read_text()
    got = subprocess.run(
        [combine_tool, "-t", "2", "-x", "-q"], input=lines, capture_output=True, text=True
    )
    assert got.stderr.strip().splitlines()[-1] == secret.hex()


def test_ssss_split_shares_convert_to_native_with_the_old_threshold(
    require_tool: Tool, tmp_path: Path
) -> None:
    split_tool = require_tool("ssss-split")
    secret = os.urandom(16)
    proc = subprocess.run(
        [split_tool, "-t", "3", "-n", "4", "-x", "-q"],
        input=secret.hex() + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    paths = []
    for i, line in enumerate(proc.stdout.split(), 1):
        path = tmp_path / f"peer.ssss-{i:03d}.txt"
        path.write_text(line + "\n")
        paths.append(path)
    detected = dispatch.detect_set(paths)
    assert detected.format == "ssss"
    assert convert.recorded_size(detected) == (None, None)
    with convert.recover_secret(detected, threshold=3) as recovered:
        assert bytes(recovered.secret.view()) == secret
        assert any("cannot be verified" in w for w in recovered.result.warnings)
        out = tmp_path / "native"
        out.mkdir()
        outcome = convert.split_secret(recovered.secret, "native", 2, 5, out, recovered.stem)
        assert "4 ssss shares" in recovered.retire_notice()
    assert recovered.secret.wiped
    assert isinstance(outcome, files.SplitOutcome)
    assert outcome.manifest.threshold == 2 and len(outcome.paths) == 5
    assert outcome.paths[0].name.startswith("peer.")
    sink = io.BytesIO()
    dispatch.combine_files("native", outcome.paths[3:], sink=sink)
    assert sink.getvalue() == secret


def test_gfsplit_files_convert_to_vault_and_back_to_gfshare_for_gfcombine(
    require_tool: Tool, tmp_path: Path
) -> None:
    gfsplit, gfcombine = require_tool("gfsplit"), require_tool("gfcombine")
    secret = os.urandom(30_001)  # Vault text shares stay under 64 KiB
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    original = theirs / "disk.img"
    original.write_bytes(secret)
    subprocess.run([gfsplit, "-n", "2", "-m", "3", str(original)], check=True)
    original.unlink()
    given = sorted(theirs.iterdir())[:2]
    detected = dispatch.detect_set(given)
    assert detected.format == "gfshare"
    vault_dir, gf_dir = tmp_path / "vault", tmp_path / "gf"
    vault_dir.mkdir()
    gf_dir.mkdir()
    _, to_vault = convert.convert_shares(detected, "vault", vault_dir, threshold=2, count=3)
    back = dispatch.detect_set(to_vault.paths[1:])
    _, to_gf = convert.convert_shares(back, "gfshare", gf_dir, threshold=2, count=3)
    assert [p.name for p in to_gf.paths] == ["disk.img.001", "disk.img.002", "disk.img.003"]
    recovered = tmp_path / "out"
    subprocess.run(
        [gfcombine, "-o", str(recovered), str(to_gf.paths[2]), str(to_gf.paths[0])], check=True
    )
    assert recovered.read_bytes() == secret


def test_a_set_that_does_not_record_its_size_needs_the_new_size(tmp_path: Path) -> None:
    out = tmp_path / "v"
    out.mkdir()
    paths = dispatch.split_to_dir("vault", io.BytesIO(os.urandom(16)), 2, 3, out, "k").paths
    with pytest.raises(ValueError, match="do not record the set's size"):
        convert.convert_shares(dispatch.detect_set(paths), "native", tmp_path)


def test_a_failed_recombination_writes_no_new_share(tmp_path: Path) -> None:
    shares = _native_set(tmp_path, os.urandom(32), m=3, n=4)
    out = tmp_path / "new"
    out.mkdir()
    with pytest.raises(NotEnoughSharesError):
        convert.convert_shares(dispatch.detect_set(shares[:2]), "vault", out)
    assert list(out.iterdir()) == []


def test_existing_new_share_files_are_refused_and_kept(tmp_path: Path) -> None:
    shares = _native_set(tmp_path, os.urandom(32))
    out = tmp_path / "new"
    out.mkdir()
    (out / "key.bin.vault-002.txt").write_text("keep me\n")
    with pytest.raises(FileExistsRefused):
        convert.convert_shares(dispatch.detect_set(shares), "vault", out)
    assert sorted(p.name for p in out.iterdir()) == ["key.bin.vault-002.txt"]
    assert (out / "key.bin.vault-002.txt").read_text() == "keep me\n"
