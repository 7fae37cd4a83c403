"""gfshare interop against the real gfsplit / gfcombine binaries, in both directions."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tcr_kit.sharing.formats import gfshare
from tcr_kit.sharing.stream import CHUNK_SIZE

# Every test runs once per GF(2^8) kernel (ISA-L and numpy).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("gf_kernel")]

CASES = [(1, 2, 2), (33, 2, 5), (1000, 3, 5), (4096, 5, 7), (CHUNK_SIZE + 5, 3, 4)]


def _run(args: list[str], cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.mark.parametrize(("size", "threshold", "count"), CASES)
def test_our_split_gfcombine(
    require_tool: Callable[[str], str], tmp_path: Path, size: int, threshold: int, count: int
) -> None:
    gfcombine = require_tool("gfcombine")
    secret = os.urandom(size)
    paths = gfshare.split_stream(io.BytesIO(secret), threshold, count, tmp_path, "secret.bin")
    out = tmp_path / "recovered"
    chosen = paths[count - threshold :]
    _run([gfcombine, "-o", str(out), *map(str, chosen)], tmp_path)
    assert out.read_bytes() == secret


@pytest.mark.parametrize(("size", "threshold", "count"), CASES)
def test_gfsplit_our_combine(
    require_tool: Callable[[str], str], tmp_path: Path, size: int, threshold: int, count: int
) -> None:
    gfsplit = require_tool("gfsplit")
    secret = os.urandom(size)
    source = tmp_path / "key.bin"
    source.write_bytes(secret)
    _run([gfsplit, "-n", str(threshold), "-m", str(count), str(source), "key.bin"], tmp_path)
    paths = sorted(p for p in tmp_path.iterdir() if gfshare.looks_like_path(p))
    assert len(paths) == count  # gfsplit chose random share numbers, all valid names
    sink = io.BytesIO()
    gfshare.combine_paths(paths[:threshold], sink)
    assert sink.getvalue() == secret
    sink = io.BytesIO()
    result = gfshare.combine_paths(paths, sink, threshold=threshold)
    assert sink.getvalue() == secret
    assert result.used == [str(p) for p in paths]


def test_gfcombine_with_too_few_of_our_shares_gives_garbage_like_ours(
    require_tool: Callable[[str], str], tmp_path: Path
) -> None:
    # Neither tool can tell that the threshold was not met: both output the same garbage.
    gfcombine = require_tool("gfcombine")
    secret = b"backup encryption key 0123456789"
    paths = gfshare.split_stream(io.BytesIO(secret), 3, 3, tmp_path, "k")
    out = tmp_path / "theirs"
    _run([gfcombine, "-o", str(out), str(paths[0]), str(paths[1])], tmp_path)
    sink = io.BytesIO()
    gfshare.combine_paths(paths[:2], sink)
    assert out.read_bytes() == sink.getvalue() != secret
