"""gfshare format: file naming, streaming split/combine laws, refusals (pure logic)."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcr_kit.errors import FileExistsRefused
from tcr_kit.sharing.errors import (
    DuplicateShareError,
    ForeignShareError,
    InconsistentSharesError,
    NotEnoughSharesError,
    ShareError,
)
from tcr_kit.sharing.formats import gfshare
from tcr_kit.sharing.stream import CHUNK_SIZE


def _combine(paths: list[Path], **options: int) -> bytes:
    sink = io.BytesIO()
    result = gfshare.combine_paths(paths, sink, **options)
    assert result.verified is False and len(result.secret) == 0
    return sink.getvalue()


@pytest.mark.parametrize(
    ("name", "index"), [("key.bin.001", 1), ("a.b.c.255", 255), ("/x/y/s.042", 42)]
)
def test_index_from_name_reads_the_three_digit_suffix(name: str, index: int) -> None:
    assert gfshare.index_from_name(name) == index
    assert gfshare.looks_like_path(name)


@pytest.mark.parametrize("name", ["key.bin", "key.000", "key.256", "key.01", "key.0001", ".001"])
def test_index_from_name_rejects_other_names(name: str) -> None:
    with pytest.raises(ShareError) as info:
        gfshare.index_from_name(name)
    assert info.value.source == name
    assert not gfshare.looks_like_path(name)


def test_split_writes_named_files_0600_and_combines(tmp_path: Path) -> None:
    secret = os.urandom(1000)
    paths = gfshare.split_stream(io.BytesIO(secret), 3, 5, tmp_path, "backup.key")
    assert [p.name for p in paths] == [f"backup.key.{i:03d}" for i in range(1, 6)]
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.stat().st_size == len(secret)
    assert _combine([paths[4], paths[0], paths[2]]) == secret
    assert _combine(paths, threshold=3) == secret


def test_split_streams_across_chunk_boundaries(tmp_path: Path) -> None:
    secret = os.urandom(CHUNK_SIZE + 7)
    paths = gfshare.split_stream(io.BytesIO(secret), 2, 3, tmp_path, "big")
    assert _combine(paths[1:]) == secret
    assert _combine(paths, threshold=2) == secret


def test_split_refuses_existing_files_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "s.002").write_bytes(b"old")
    with pytest.raises(FileExistsRefused):
        gfshare.split_stream(io.BytesIO(b"abc"), 2, 3, tmp_path, "s")
    assert not (tmp_path / "s.001").exists()  # nothing written before refusing
    paths = gfshare.split_stream(io.BytesIO(b"abc"), 2, 3, tmp_path, "s", force=True)
    assert _combine(paths[:2]) == b"abc"


@pytest.mark.parametrize(
    ("threshold", "count", "basename"),
    [(1, 3, "s"), (4, 3, "s"), (2, 256, "s"), (2, 3, ""), (2, 3, "a/b"), (2, 3, "..")],
)
def test_split_refuses_bad_parameters(
    tmp_path: Path, threshold: int, count: int, basename: str
) -> None:
    with pytest.raises(ValueError):
        gfshare.split_stream(io.BytesIO(b"abc"), threshold, count, tmp_path, basename)


def test_split_removes_partial_shares_on_read_error(tmp_path: Path) -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: object) -> int:
            raise OSError("device pulled")

    with pytest.raises(OSError, match="device pulled"):
        gfshare.split_stream(Broken(), 2, 3, tmp_path, "s")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_combine_refuses_too_few_duplicates_and_foreign_lengths(tmp_path: Path) -> None:
    paths = gfshare.split_stream(io.BytesIO(b"secret"), 3, 4, tmp_path, "s")
    with pytest.raises(NotEnoughSharesError):
        _combine(paths[:1])
    with pytest.raises(NotEnoughSharesError) as info:
        _combine(paths[:2], threshold=3)
    assert (info.value.have, info.value.need) == (2, 3)
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    (copy_dir / "s.001").write_bytes(b"other!")
    with pytest.raises(DuplicateShareError):
        _combine([paths[0], copy_dir / "s.001", paths[1]])
    (copy_dir / "t.003").write_bytes(b"longer share")
    with pytest.raises(ForeignShareError):
        _combine([paths[0], paths[1], copy_dir / "t.003"])


def test_combine_ignores_same_file_given_twice(tmp_path: Path) -> None:
    paths = gfshare.split_stream(io.BytesIO(b"secret"), 2, 3, tmp_path, "s")
    sink = io.BytesIO()
    result = gfshare.combine_paths([paths[0], paths[0], paths[1]], sink)
    assert sink.getvalue() == b"secret"
    assert list(result.rejected) == [str(paths[0])]


def test_combine_detects_a_share_off_the_polynomial(tmp_path: Path) -> None:
    paths = gfshare.split_stream(io.BytesIO(b"secret"), 2, 4, tmp_path, "s")
    data = bytearray(paths[3].read_bytes())
    data[2] ^= 1
    paths[3].write_bytes(bytes(data))
    with pytest.raises(InconsistentSharesError) as info:
        _combine(paths, threshold=2)
    assert info.value.culprits == [str(paths[3])]


@settings(max_examples=30, deadline=None)
@given(
    secret=st.binary(max_size=300),
    threshold=st.integers(2, 6),
    extra=st.integers(0, 3),
    data=st.data(),
)
def test_any_threshold_share_files_recover_the_secret(
    tmp_path_factory: pytest.TempPathFactory,
    secret: bytes,
    threshold: int,
    extra: int,
    data: st.DataObject,
) -> None:
    out = tmp_path_factory.mktemp("gf")
    count = threshold + extra
    paths = gfshare.split_stream(io.BytesIO(secret), threshold, count, out, "s")
    order = data.draw(st.permutations(range(count)))
    assert _combine([paths[i] for i in order[:threshold]]) == secret
    assert _combine([paths[i] for i in order], threshold=threshold) == secret


@given(st.text(max_size=30))
def test_index_from_name_raises_only_share_errors(name: str) -> None:
    try:
        index = gfshare.index_from_name(name)
    except ShareError:
        return
    assert 1 <= index <= 255
