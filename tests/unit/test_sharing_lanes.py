"""The per-share lane threads of split and combine: order, sharing lanes, errors.

Real share files from the native split; the lanes are driven both through the library's
combine and directly.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from pathlib import Path

import pytest

from tcr_kit.sharing import files, native
from tcr_kit.sharing.errors import ShareError
from tcr_kit.sharing.lanes import DEPTH, MAX_LANES, READ_CHUNK, ReadLanes, WriteLanes
from tcr_kit.sharing.stream import CHUNK_SIZE


def _split_to_files(tmp_path: Path, secret: bytes, m: int, n: int) -> list[Path]:
    sinks = [io.BytesIO() for _ in range(n)]
    native.split_stream(io.BytesIO(secret), m, n, sinks)
    paths = []
    for i, sink in enumerate(sinks, 1):
        path = tmp_path / f"k.share-{i:03d}.tcrs"
        path.write_bytes(sink.getvalue())
        paths.append(path)
    return paths


def test_more_shares_than_lanes_are_all_read_and_hashed_in_order(tmp_path: Path) -> None:
    count = MAX_LANES + 3
    secret = os.urandom(2 * READ_CHUNK + 5)
    paths = _split_to_files(tmp_path, secret, 2, count)
    shares = [native.open_share_file(p) for p in paths]
    expected = [s.payload_digest for s in [native.open_share_file(p) for p in paths]]
    seen = [hashlib.sha256() for _ in shares]
    with ReadLanes(shares, len(secret)) as lanes:
        for _ in range(3):
            blocks = lanes.take()
            assert len(blocks) == count
            for hasher, block in zip(seen, blocks, strict=True):
                hasher.update(block)
            lanes.give_back()
        with pytest.raises(ValueError):
            lanes.take()
        assert lanes.digests() == expected
    assert [h.digest() for h in seen] == expected


def test_combining_all_of_many_shares_in_one_pass_gives_the_secret(tmp_path: Path) -> None:
    secret = os.urandom(CHUNK_SIZE + 99)
    paths = _split_to_files(tmp_path, secret, 3, MAX_LANES + 4)
    out = tmp_path / "out.bin"
    result = files.combine_native_to(paths[::-1], out, None)
    assert out.read_bytes() == secret
    assert not result.rejected


def test_a_share_that_shrinks_during_the_combine_is_named_and_nothing_is_output(
    tmp_path: Path,
) -> None:
    secret = os.urandom(3 * CHUNK_SIZE)
    paths = _split_to_files(tmp_path, secret, 2, 3)
    shares = [native.open_share_file(p) for p in paths[:2]]
    with open(paths[1], "r+b") as fh:  # after its header was read
        fh.truncate(CHUNK_SIZE)
    written: list[bytes] = []
    with pytest.raises(ShareError, match="shrank") as caught:
        native.combine_stream(shares, lambda block: written.append(bytes(block)))
    assert caught.value.source == str(paths[1])
    assert not written


def test_write_lanes_keep_each_consumers_order_and_recycle_sets_only_when_done() -> None:
    consumers = MAX_LANES + 2
    got: list[list[bytes]] = [[] for _ in range(consumers)]

    def keeper(i: int):  # type: ignore[no-untyped-def]
        def keep(block: memoryview) -> None:
            if i == 0:
                time.sleep(0.0005)  # one slow lane: the others must not recycle its sets
            got[i].append(bytes(block))

        return keep

    sets = [[bytearray(2) for _ in range(consumers)] for _ in range(DEPTH)]
    chunks = 5 * DEPTH
    with WriteLanes([keeper(i) for i in range(consumers)], sets) as lanes:
        for n in range(chunks):
            buffers = lanes.free_set()
            for i, buf in enumerate(buffers):
                buf[:] = bytes([n, i])
            lanes.put([memoryview(b) for b in buffers])
    # A set handed out again before every lane had consumed it would show a later chunk's
    # bytes here; a lane out of order would show them shuffled.
    for i, blocks in enumerate(got):
        assert blocks == [bytes([n, i]) for n in range(chunks)]


def test_a_consumer_error_reaches_the_main_thread_and_later_blocks_are_skipped() -> None:
    calls: list[int] = []

    def failing(block: memoryview) -> None:
        calls.append(block[0])
        if block[0] == 1:
            raise OSError(28, "No space left on device")

    sets = [[bytearray(1)] for _ in range(DEPTH)]
    with pytest.raises(OSError, match="No space"):
        with WriteLanes([failing], sets) as lanes:
            for n in range(4 * DEPTH):
                (buf,) = lanes.free_set()
                buf[0] = n
                lanes.put([memoryview(buf)])
    assert calls == [0, 1]


def test_ring_buffers_stay_within_the_budget_for_any_share_count() -> None:
    from tcr_kit.sharing.lanes import BUFFER_BUDGET, MIN_CHUNK, chunk_for

    assert chunk_for(6, READ_CHUNK) == READ_CHUNK  # a 5-share combine keeps its chunk
    for buffers in range(1, 257):
        chunk = chunk_for(buffers, READ_CHUNK)
        assert MIN_CHUNK <= chunk <= READ_CHUNK
        assert DEPTH * buffers * chunk <= max(BUFFER_BUDGET, DEPTH * buffers * MIN_CHUNK)
    assert DEPTH * 256 * chunk_for(256, READ_CHUNK) <= BUFFER_BUDGET


def test_a_split_into_many_shares_uses_small_chunks_and_still_combines(tmp_path: Path) -> None:
    secret = os.urandom(100 * 1024 + 7)  # several chunks of about 30 KiB
    paths = _split_to_files(tmp_path, secret, 3, 200)
    out = tmp_path / "out.bin"
    files.combine_native_to([paths[199], paths[0], paths[100]], out, None)
    assert out.read_bytes() == secret
