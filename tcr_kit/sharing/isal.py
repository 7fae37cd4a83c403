"""GF(2^8) region arithmetic on Intel ISA-L (``libisal.so.2``, Debian's ``libisal2``), by ctypes.

ISA-L's erasure-coding entry point ``ec_encode_data(len, k, rows, tables, data, coding)``
computes ``coding[r] = sum_j a[r][j] * data[j]`` over whole buffers with SIMD (SSSE3, AVX,
AVX2 or AVX-512, chosen by the library for the CPU). That is exactly the linear combination
Shamir's split and combine need, at memory speed (about 0.03 s for a 5-by-2 encode of 64 MiB
here, against about 0.6 s for numpy's table look-ups).

**Two fields, one kernel.** ISA-L's own ``ec_init_tables`` speaks GF(2^8) modulo 0x11D
(gfshare's field); the native format uses 0x11B (Rijndael). The two are isomorphic:
:func:`tcr_kit.sharing.gf256.isomorphism` finds the map ``phi`` (a 256-entry table each way)
with ``phi(a * b) = phi(a) * phi(b)`` and ``phi(a ^ b) = phi(a) ^ phi(b)``. So
``c *_{11B} x = phi^-1(phi(c) *_{11D} phi(x))``: translate the inputs with ``phi``, encode
with ISA-L's 0x11D tables of ``phi(c)``, translate the output back. Translating bytes costs a
full pass per buffer (``bytes.translate`` runs at about 0.2 GB/s here: eight passes per 5-of-7
split would cost more than all the arithmetic), and it is not needed: ISA-L's SIMD kernels
multiply a byte ``x`` by a constant as ``lo[x & 15] ^ hi[x >> 4]`` through the 32-byte table
``lo || hi`` of the constant, which is right for *any* map that is linear over GF(2). The
conjugated map ``phi^-1 o (phi(c) *_{11D}) o phi`` is linear, so its table folds the
isomorphism in and no data byte is ever translated. Its table is, of course, the 0x11B
multiplication table of ``c``: :func:`coefficient_tables` builds it for any field, and a test
checks it against the isomorphism, and against ``ec_init_tables`` for 0x11D.

**Checked before it is trusted.** The 32-byte layout is ISA-L's documented ``gf_vect_mul_init``
layout. When the library is loaded, :func:`library` compares ``ec_init_tables``' output for
0x11D with :func:`coefficient_tables` and runs a 0x11B encode against the pure-Python field;
a library whose tables differ (a future layout, such as GFNI's affine matrices) is not used
and the numpy kernel runs instead. ISA-L handles buffers shorter than 64 bytes with a scalar
path that ignores the tables (it multiplies in 0x11D), so shorter regions are padded to 64.

**CRC-32 too.** The share format's checksum is zlib's CRC-32, which ISA-L also computes
(``crc32_gzip_refl``, with carry-less multiplication): about 8.5 GB/s here against 2.8 GB/s
for zlib. :func:`crc32` uses it when the library is loaded and agrees with ``zlib.crc32`` on
a test input, else ``zlib.crc32``.

``TCR_GF_KERNEL=numpy`` in the environment forbids the library (``isa-l`` requires it).
"""

from __future__ import annotations

import ctypes
import os
import threading
import zlib
from collections.abc import Callable, Sequence

from tcr_kit.secrets import wipe
from tcr_kit.sharing.gf256 import GFSHARE_POLY, RIJNDAEL_POLY, Field, _slow_mul, field

__all__ = [
    "KERNEL_ENV",
    "MIN_REGION",
    "RegionEncoder",
    "coefficient_tables",
    "crc32",
    "library",
    "unavailable_reason",
]

KERNEL_ENV = "TCR_GF_KERNEL"
"""Environment variable: ``numpy`` forbids ISA-L, ``isa-l`` requires it, else automatic."""

MIN_REGION = 64
"""Shorter regions go through ISA-L's scalar path, which ignores our tables: pad to this."""

_SONAMES = ("libisal.so.2", "libisal.so")

Buffer = bytes | bytearray | memoryview

_lock = threading.RLock()  # crc32() loads the library while holding it
_loaded: list[ctypes.CDLL | None] = []
_reason: list[str] = []


def coefficient_tables(gf: Field, matrix: Sequence[Sequence[int]]) -> bytes:
    """ISA-L's tables for ``matrix`` (rows of coefficients): 32 bytes per coefficient.

    For a coefficient ``c`` the 32 bytes are ``c * i`` for ``i`` in 0..15, then ``c * (i << 4)``
    for ``i`` in 0..15, in ``gf``; row-major, as ``ec_init_tables`` lays them out.
    """
    out = bytearray()
    for row in matrix:
        for c in row:
            table = gf.mul_table(c)
            out += table[:16]
            out += table[0:256:16]
    return bytes(out)


def _load() -> ctypes.CDLL | None:
    choice = os.environ.get(KERNEL_ENV, "").strip().lower()
    if choice == "numpy":
        _reason.append(f"{KERNEL_ENV}=numpy")
        return None
    lib = None
    names = [*_SONAMES]
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None:
        from ctypes.util import find_library  # slow to import (pathlib, re): fallback only

        found = find_library("isal")
        if found:
            try:
                lib = ctypes.CDLL(found)
            except OSError:
                lib = None
    if lib is None:
        _reason.append("libisal.so.2 not found (Debian package libisal2)")
        return None
    try:
        lib.ec_init_tables.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p]
        lib.ec_init_tables.restype = None
        lib.ec_encode_data.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.ec_encode_data.restype = None
    except AttributeError:
        _reason.append("libisal has no ec_init_tables/ec_encode_data")
        return None
    problem = _self_test(lib)
    if problem:
        _reason.append(problem)
        return None
    return lib


def _self_test(lib: ctypes.CDLL) -> str | None:
    """Why the library's tables or results differ from ours, or None when they agree."""
    # The layout: ec_init_tables' 0x11D tables against the definition of the product.
    matrix = [[0x02, 0x53, 0xFF], [0x1D, 0x8E, 0x01]]
    flat = bytes(c for row in matrix for c in row)
    theirs = ctypes.create_string_buffer(32 * len(flat))
    lib.ec_init_tables(3, 2, flat, theirs)
    ours = b"".join(
        bytes(_slow_mul(c, i, GFSHARE_POLY) for i in range(16))
        + bytes(_slow_mul(c, i << 4, GFSHARE_POLY) for i in range(16))
        for c in flat
    )
    if theirs.raw != ours:
        return "libisal's coefficient tables have an unknown layout"
    # The folded 0x11B tables, on every byte value and a length off the SIMD width.
    rijndael = field(RIJNDAEL_POLY)
    every = bytes(range(256))
    inputs = [every + every[:67], every[::-1] + every[5:72], every[1::2] * 2 + every[:67]]
    size = len(inputs[0])
    outputs = [bytearray(size) for _ in matrix]
    _encode(lib, coefficient_tables(rijndael, matrix), 3, inputs, outputs, size)
    for row, out in zip(matrix, outputs, strict=True):
        expected = 0
        for c, data in zip(row, inputs, strict=True):
            expected ^= int.from_bytes(data.translate(rijndael.mul_table(c)), "big")
        if int.from_bytes(out, "big") != expected:
            return "libisal computed a wrong result with folded 0x11B tables"
    return None


_CRC_MIN = 4096
"""Shorter (or read-only) buffers go to zlib: the ctypes call costs more than it saves."""

_crc: list[Callable[[int, int, int], int] | None] = []


def _load_crc() -> Callable[[int, int, int], int] | None:
    lib = library()
    if lib is None:
        return None
    try:
        function = lib.crc32_gzip_refl
    except AttributeError:
        return None
    function.argtypes = [ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint64]
    function.restype = ctypes.c_uint32
    probe = bytearray(bytes(range(256)) * 40 + b"tcr-kit")
    address = ctypes.addressof((ctypes.c_ubyte * len(probe)).from_buffer(probe))
    head = function(0, address, 1000)
    if function(head, address + 1000, len(probe) - 1000) != zlib.crc32(probe):
        return None
    return function


def crc32(data: Buffer, value: int = 0) -> int:
    """``zlib.crc32(data, value)``, on ISA-L for large writable buffers when it is usable."""
    if not _crc:
        with _lock:
            if not _crc:
                _crc.append(_load_crc())
    function = _crc[0]
    view = memoryview(data)
    if function is None or view.readonly or view.nbytes < _CRC_MIN:
        return zlib.crc32(view, value)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    array = (ctypes.c_ubyte * len(view)).from_buffer(view)
    # ctypes releases the GIL for the call: shares are checksummed on two threads at once.
    return function(value, ctypes.addressof(array), len(view))


def library() -> ctypes.CDLL | None:
    """The checked ISA-L library, or None when it is missing, forbidden or untrustworthy."""
    if not _loaded:
        with _lock:
            if not _loaded:
                _loaded.append(_load())
    return _loaded[0]


def unavailable_reason() -> str | None:
    """Why :func:`library` returns None (None when it does not)."""
    library()
    return _reason[0] if _reason else None


def _pointer(buf: Buffer, size: int, keep: list[object]) -> int:
    """Address of the first ``size`` bytes of ``buf``; read-only buffers are copied once."""
    view = memoryview(buf)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    if len(view) < size:
        raise ValueError("buffer shorter than the region")
    if view.readonly:
        copy = bytearray(view[:size])
        keep.append(copy)
        array = (ctypes.c_ubyte * size).from_buffer(copy)
    else:
        array = (ctypes.c_ubyte * size).from_buffer(view)
    keep.append(array)
    return ctypes.addressof(array)


def _encode(
    lib: ctypes.CDLL,
    tables: bytes,
    k: int,
    inputs: Sequence[Buffer],
    outputs: Sequence[bytearray | memoryview],
    size: int,
) -> None:
    keep: list[object] = []
    src = (ctypes.c_void_p * k)(*(_pointer(b, size, keep) for b in inputs))
    dst = (ctypes.c_void_p * len(outputs))(*(_pointer(b, size, keep) for b in outputs))
    # ctypes releases the GIL for the call: two threads encode two chunks at once.
    lib.ec_encode_data(size, k, len(outputs), tables, src, dst)
    for item in keep:
        if isinstance(item, bytearray):
            wipe(item)


class RegionEncoder:
    """``outputs[r] = sum_j matrix[r][j] * inputs[j]`` over byte regions, on ISA-L.

    Built once per coefficient matrix (tables are computed here); :meth:`encode` may be
    called from several threads at once.
    """

    def __init__(self, gf: Field, matrix: Sequence[Sequence[int]]) -> None:
        lib = library()
        if lib is None:
            raise RuntimeError(f"ISA-L is not usable: {unavailable_reason()}")
        if not matrix or not matrix[0]:
            raise ValueError("empty coefficient matrix")
        k = len(matrix[0])
        if any(len(row) != k for row in matrix) or not 1 <= k <= 255 or len(matrix) > 255:
            raise ValueError("coefficient rows must all have between 1 and 255 entries")
        self._lib = lib
        self.k = k
        self.rows = len(matrix)
        self._tables = coefficient_tables(gf, matrix)

    def encode(self, inputs: Sequence[Buffer], outputs: Sequence[bytearray | memoryview]) -> None:
        """Fill each of ``outputs`` (writable, all as long as the inputs) with its row's sum."""
        if len(inputs) != self.k or len(outputs) != self.rows:
            raise ValueError(f"need {self.k} inputs and {self.rows} outputs")
        size = memoryview(inputs[0]).nbytes
        if any(memoryview(b).nbytes != size for b in (*inputs, *outputs)):
            raise ValueError("regions of different lengths")
        if size == 0:
            return
        if size >= MIN_REGION:
            _encode(self._lib, self._tables, self.k, inputs, outputs, size)
            return
        padded_in = [bytearray(MIN_REGION) for _ in inputs]
        padded_out = [bytearray(MIN_REGION) for _ in outputs]
        try:
            for pad, data in zip(padded_in, inputs, strict=True):
                pad[:size] = memoryview(data).cast("B")
            _encode(self._lib, self._tables, self.k, padded_in, padded_out, MIN_REGION)
            for pad, out in zip(padded_out, outputs, strict=True):
                memoryview(out).cast("B")[:] = pad[:size]
        finally:
            for pad in (*padded_in, *padded_out):
                wipe(pad)
