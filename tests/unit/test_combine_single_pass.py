"""Combining to a file reads each share once, and still never outputs unverified bytes.

The single pass combines the shares the headers say will be chosen while hashing every
payload, verifies on those digests, and publishes the file only when verification chose
the same shares. A bad share among spares makes it fall back to the plain combine, which
re-reads the chosen shares. Real share files from the native split.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from tcr_kit.sharing import files, native
from tcr_kit.sharing.errors import ShareError
from tcr_kit.sharing.native_header import TRAILER_SIZE
from tcr_kit.sharing.stream import CHUNK_SIZE


def _split_to_files(tmp_path: Path, secret: bytes, m: int, n: int) -> list[Path]:
    sinks = [io.BytesIO() for _ in range(n)]
    native.split_stream(io.BytesIO(secret), m, n, sinks)
    paths = []
    for i, sink in enumerate(sinks, 1):
        path = tmp_path / f"k.share-{i:03d}.tcrs"
        path.write_bytes(native.MAGIC + sink.getvalue()[len(native.MAGIC) :])
        paths.append(path)
    return paths


def _flip_payload_byte(path: Path, from_end: int) -> None:
    data = bytearray(path.read_bytes())
    data[-TRAILER_SIZE - from_end] ^= 0x01
    path.write_bytes(bytes(data))


def test_the_plan_is_the_lowest_distinct_indices_of_the_set(tmp_path: Path) -> None:
    paths = _split_to_files(tmp_path, os.urandom(1000), 3, 5)
    shares = [native.open_share_file(p) for p in reversed(paths)]
    plan = native.single_pass_plan(shares)
    assert plan is not None
    assert [s.header.index for s in plan] == [1, 2, 3]


def test_no_plan_when_too_few_distinct_indices(tmp_path: Path) -> None:
    paths = _split_to_files(tmp_path, os.urandom(100), 3, 5)
    shares = [native.open_share_file(p) for p in (paths[0], paths[0], paths[1])]
    assert native.single_pass_plan(shares) is None


def test_good_shares_give_the_secret_in_one_pass(tmp_path: Path) -> None:
    secret = os.urandom(3 * CHUNK_SIZE + 17)
    paths = _split_to_files(tmp_path, secret, 3, 5)
    out = tmp_path / "out.bin"
    result = files.combine_native_to(paths[::-1], out, None)
    assert out.read_bytes() == secret
    assert result.used == [str(p) for p in paths[:3]]
    assert not result.rejected


def test_a_bad_planned_share_with_spares_falls_back_and_names_it(tmp_path: Path) -> None:
    secret = os.urandom(2 * CHUNK_SIZE + 5)
    paths = _split_to_files(tmp_path, secret, 3, 5)
    _flip_payload_byte(paths[0], from_end=CHUNK_SIZE)  # share 1 is in the plan
    out = tmp_path / "out.bin"
    result = files.combine_native_to(paths, out, None)
    assert out.read_bytes() == secret
    assert str(paths[0]) in result.rejected
    assert str(paths[0]) not in result.used


def test_a_bad_share_without_spares_leaves_no_file(tmp_path: Path) -> None:
    paths = _split_to_files(tmp_path, os.urandom(CHUNK_SIZE + 1), 2, 3)
    _flip_payload_byte(paths[1], from_end=1)
    out = tmp_path / "out.bin"
    with pytest.raises(ShareError):
        files.combine_native_to(paths[:2], out, None)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_the_single_pass_returns_none_when_verification_chose_other_shares(
    tmp_path: Path,
) -> None:
    secret = os.urandom(1000)
    paths = _split_to_files(tmp_path, secret, 2, 3)
    _flip_payload_byte(paths[0], from_end=10)
    shares = [native.open_share_file(p) for p in paths]
    plan = native.single_pass_plan(shares)
    assert plan is not None and plan[0].header.index == 1
    written = bytearray()
    assert native.combine_single_pass(shares, plan, written.extend) is None
    # The digests of that pass are kept: the plain combine re-reads only what it combines.
    again = bytearray()
    result = native.combine_stream(shares, again.extend)
    assert bytes(again) == secret
    assert str(paths[0]) in result.rejected
