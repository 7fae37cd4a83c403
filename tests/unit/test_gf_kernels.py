"""The two GF(2^8) kernels (ISA-L and numpy) compute the same shares, and the right ones.

Every test that names ``kernel`` runs once per kernel; with ``TCR_REQUIRE_STACK=1`` a missing
ISA-L (Debian's libisal2) fails the run instead of skipping.
"""

from __future__ import annotations

import ctypes
import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcr_kit.secrets import random_source
from tcr_kit.sharing import isal, native, stream
from tcr_kit.sharing.formats import gfshare
from tcr_kit.sharing.gf256 import GFSHARE_POLY, RIJNDAEL_POLY, field, isomorphism
from tcr_kit.sharing.stream import CHUNK_SIZE, CombineKernel, SplitKernel, split_small
from tests.cli_runner import run_tcr
from tests.conftest import stack_missing

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "vectors"


@pytest.fixture
def kernel(gf_kernel: str) -> str:
    return gf_kernel


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_native", VECTORS / "gen_native.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_isomorphism_between_the_two_fields_preserves_sums_and_products() -> None:
    aes, gfs = field(RIJNDAEL_POLY), field(GFSHARE_POLY)
    forward, inverse = isomorphism(aes, gfs)
    assert sorted(forward) == list(range(256))
    assert all(inverse[forward[a]] == a for a in range(256))
    for a in range(256):
        for b in range(256):
            assert forward[a ^ b] == forward[a] ^ forward[b]
            assert forward[aes.mul(a, b)] == gfs.mul(forward[a], forward[b])


def test_folded_tables_are_the_isomorphism_conjugate_of_gfshare_multiplication() -> None:
    """ISA-L's table for c in 0x11B is phi^-1 o (phi(c) * .) o phi on each nibble half."""
    aes, gfs = field(RIJNDAEL_POLY), field(GFSHARE_POLY)
    forward, inverse = isomorphism(aes, gfs)
    for c in range(256):
        conjugate = bytes(inverse[gfs.mul(forward[c], forward[x])] for x in range(256))
        expected = conjugate[:16] + conjugate[0:256:16]
        assert isal.coefficient_tables(aes, [[c]]) == expected


def test_our_gfshare_tables_are_byte_for_byte_those_of_ec_init_tables() -> None:
    lib = isal.library()
    if lib is None:
        stack_missing(f"ISA-L is not usable: {isal.unavailable_reason()}")
    gfs = field(GFSHARE_POLY)
    matrix = [[(r * 37 + c * 11) % 256 for c in range(7)] for r in range(4)]
    theirs = ctypes.create_string_buffer(32 * 28)
    lib.ec_init_tables(7, 4, bytes(c for row in matrix for c in row), theirs)
    assert theirs.raw == isal.coefficient_tables(gfs, matrix)


def test_forbidding_isa_l_in_the_environment_selects_numpy() -> None:
    code = (
        "from tcr_kit.sharing import stream, isal; "
        "print(stream.kernel_name(), isal.unavailable_reason())"
    )
    env = {**os.environ, isal.KERNEL_ENV: "numpy"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.split()[0] == "numpy" and "TCR_GF_KERNEL=numpy" in out


@settings(max_examples=30, deadline=None)
@given(
    size=st.sampled_from([1, 2, 31, 63, 64, 65, 200, 4097]),
    count=st.integers(1, 9),
    data=st.data(),
)
def test_both_kernels_split_and_combine_like_the_pure_python_reference(
    size: int, count: int, data: st.DataObject
) -> None:
    threshold = data.draw(st.integers(1, count))
    poly = data.draw(st.sampled_from([RIJNDAEL_POLY, GFSHARE_POLY]))
    gf = field(poly)
    secret = data.draw(st.binary(min_size=size, max_size=size))
    randoms = [data.draw(st.binary(min_size=size, max_size=size)) for _ in range(threshold - 1)]
    xs = list(range(1, count + 1))
    results = {}
    for name in stream.KERNELS:
        if name == stream.ISAL and isal.library() is None:
            continue
        stream.select_kernel(name)
        try:
            split = SplitKernel(gf, xs, threshold)
            shares = [
                bytes(memoryview(s)) for s in split.process(secret, list(map(bytearray, randoms)))
            ]
            chosen = data.draw(st.permutations(range(count)))[:threshold]
            combined = CombineKernel(gf, [xs[i] for i in chosen]).process(
                [shares[i] for i in chosen]
            )
        finally:
            stream.select_kernel(None)
        assert bytes(memoryview(combined)) == secret
        results[name] = shares
    # The first m-1 shares are the random values; every share lies on their polynomial.
    reference = gf.interpolate
    for shares in results.values():
        assert shares[: threshold - 1] == randoms
        known = [(0, secret), *zip(xs[: threshold - 1], randoms, strict=True)]
        for x, share in zip(xs, shares, strict=True):
            assert share == reference(known, at=x)
    assert len({tuple(s) for s in results.values()}) == 1


def test_short_values_split_by_horner_combine_on_both_kernels(kernel: str) -> None:
    gf = field(RIJNDAEL_POLY)
    secret = bytes(range(50))
    shares = split_small(gf, secret, [3, 9, 200], 2)
    out = CombineKernel(gf, [9, 200]).process(shares[1:])
    assert bytes(memoryview(out)) == secret
    assert stream.kernel_used() == kernel


def test_committed_native_vectors_are_regenerated_bit_for_bit_by_each_kernel(kernel: str) -> None:
    assert _load_generator().render() == (VECTORS / "native.json").read_text(encoding="utf-8")
    assert stream.kernel_used() == kernel


def test_each_kernel_combines_every_committed_native_vector(kernel: str) -> None:
    data = json.loads((VECTORS / "native.json").read_text(encoding="utf-8"))
    for vector in data["valid"]:
        shares = [native.decode_share(bytes.fromhex(h), "s") for h in vector["shares_compact_hex"]]
        result = native.combine_shares(shares[: vector["threshold"]])
        assert bytes(result.secret.view()).hex() == vector["secret_hex"]
        result.secret.wipe()


def test_a_multi_chunk_native_split_is_identical_on_both_kernels() -> None:
    """Same randomness, several chunks and an odd tail: the two kernels write the same bytes."""
    secret = bytes((i * 131 + 7) & 0xFF for i in range(2 * CHUNK_SIZE + 77))
    outputs = {}
    for name in stream.KERNELS:
        if name == stream.ISAL and isal.library() is None:
            stack_missing(f"ISA-L is not usable: {isal.unavailable_reason()}")
        stream.select_kernel(name)
        try:
            with random_source(_counter_source()):
                sinks = [io.BytesIO() for _ in range(7)]
                native.split_stream(io.BytesIO(secret), 5, 7, sinks)
            outputs[name] = [s.getvalue() for s in sinks]
        finally:
            stream.select_kernel(None)
    assert outputs[stream.ISAL] == outputs[stream.NUMPY]


def _counter_source() -> Any:
    import hashlib

    state = [0]

    def source(n: int) -> bytes:
        state[0] += 1
        return hashlib.shake_256(state[0].to_bytes(8, "big")).digest(n)

    return source


def test_gfshare_files_split_on_one_kernel_combine_on_the_other(
    kernel: str, tmp_path: Path
) -> None:
    secret = os.urandom(CHUNK_SIZE + 999)
    paths = gfshare.split_stream(io.BytesIO(secret), 3, 5, tmp_path, "k.bin")
    other = stream.NUMPY if kernel == stream.ISAL else stream.ISAL
    if other == stream.ISAL and isal.library() is None:
        stack_missing(f"ISA-L is not usable: {isal.unavailable_reason()}")
    stream.select_kernel(other)
    sink = io.BytesIO()
    gfshare.combine_paths(paths[1:4], sink)
    assert sink.getvalue() == secret


def test_split_json_names_the_kernel_that_computed_the_shares(tmp_path: Path) -> None:
    secret = tmp_path / "s.bin"
    secret.write_bytes(b"k" * 1000)
    secret.chmod(0o600)
    for name in stream.KERNELS:
        if name == stream.ISAL and isal.library() is None:
            stack_missing(f"ISA-L is not usable: {isal.unavailable_reason()}")
        out = tmp_path / name
        out.mkdir()
        env = {**os.environ, isal.KERNEL_ENV: name}
        proc = run_tcr(
            "shares", "split", "-m", "2", "-n", "3", "-i", secret, "-o", out, "--json", env=env
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["kernel"] == name


def test_isa_l_split_and_combine_of_native_shares_never_import_numpy(tmp_path: Path) -> None:
    if isal.library() is None:
        stack_missing(f"ISA-L is not usable: {isal.unavailable_reason()}")
    code = """
import io, sys
from tcr_kit.sharing import native
shares = native.split_bytes(bytes(range(256)) * 300, 3, 5)
result = native.combine_shares(shares[2:])
assert bytes(result.secret.view()) == bytes(range(256)) * 300
print("numpy" in sys.modules)
"""
    env = {k: v for k, v in os.environ.items() if k != isal.KERNEL_ENV}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False", out.stderr


def test_split_randomness_is_the_aes256_ctr_keystream_under_a_key_from_the_random_hook() -> None:
    from Crypto.Cipher import AES

    from tcr_kit.sharing.stream import BulkRandom

    drawn: list[bytes] = []

    def source(n: int) -> bytes:
        drawn.append(bytes((len(drawn) * 17 + i) & 0xFF for i in range(n)))
        return drawn[-1]

    with random_source(source):
        rng = BulkRandom()
    key, nonce = drawn
    assert (len(key), len(nonce)) == (32, 8)
    out = bytearray(CHUNK_SIZE + 3)  # past the size of the cached zero block
    first = bytearray(1000)
    rng.fill(first)
    rng.fill(out)
    expected = AES.new(key, AES.MODE_CTR, nonce=nonce).encrypt(bytes(len(first) + len(out)))
    assert bytes(first + out) == expected
    with random_source(source):
        other = bytearray(64)
        BulkRandom().fill(other)
    assert bytes(other) != expected[:64]  # a new key per split
