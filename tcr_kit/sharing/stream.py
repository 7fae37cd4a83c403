"""Streaming Shamir kernels over GF(2^8): split and combine chunk by chunk.

Secrets may be files of many GiB, so nothing here holds more than a chunk per share. The
kernels are pure functions of their inputs (plus random bytes for the split) and know no file
format; the format modules drive them, hash what they read and write, and frame the shares.

Two choices make the split fast without changing what it computes:

* **Random shares first.** A random polynomial of degree m-1 with f(0) = S is the same thing
  as m-1 uniformly random values at m-1 fixed non-zero points: the Vandermonde map between
  coefficients and values is a bijection. So the first m-1 shares *are* random bytes (no
  multiplication at all) and each remaining share is the Lagrange combination of the m known
  points, costing m multiplications per byte instead of (m-1) Horner steps for every share.
* **Two bytes per look-up.** Multiplying a chunk by a constant is a table look-up; with a
  65,536-entry ``uint16`` table built from the 256-entry one, numpy maps two bytes per element.

Random bytes for the coefficients come from :class:`BulkRandom`, AES-256 in counter mode (OpenSSL)
keyed from the OS CSPRNG (through :func:`tcr_kit.secrets.random_bytes`), the construction of NIST's
CTR_DRBG without reseeding: reading GiBs from ``/dev/urandom`` would dominate the run time.

Two kernels compute the same bytes. **ISA-L** (:mod:`tcr_kit.sharing.isal`, SIMD region
arithmetic through ctypes) runs when ``libisal.so.2`` is installed and passes its self-test;
its buffers are ``bytearray`` objects and numpy is never imported. **numpy** (16-bit table
look-ups) is the fallback. :func:`kernel_name` says which one the next kernel object will use,
:func:`select_kernel` (tests, benchmarks) or ``TCR_GF_KERNEL`` in the environment chooses, and
:func:`kernel_used` says which one the last kernel object did use (``tcr shares split --json``).
Chunks returned by either kernel support ``memoryview`` and :func:`tcr_kit.secrets.wipe`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tcr_kit.errors import OperationalError
from tcr_kit.secrets import random_bytes, wipe
from tcr_kit.sharing.gf256 import Field

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from tcr_kit.sharing import isal

CHUNK_SIZE = 1 << 18
"""Bytes per share per chunk: large enough to amortise numpy calls, small enough for memory."""


ISAL = "isa-l"
NUMPY = "numpy"
KERNELS = (ISAL, NUMPY)

_selected: list[str | None] = [None]
_used: list[str | None] = [None]


def select_kernel(name: str | None) -> None:
    """Use kernel ``name`` (``"isa-l"`` or ``"numpy"``) from now on; ``None``: automatic."""
    if name is not None and name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}")
    _selected[0] = name


def kernel_name() -> str:
    """The kernel new :class:`SplitKernel`/:class:`CombineKernel` objects will use.

    Automatic choice: ISA-L when usable, else numpy. A kernel that was asked for (by
    :func:`select_kernel`, else ``TCR_GF_KERNEL``) but cannot run raises
    :class:`OperationalError`.
    """
    from tcr_kit.sharing import isal  # ctypes is imported only by the kernels

    wanted = _selected[0] or os.environ.get(isal.KERNEL_ENV, "").strip().lower() or None
    if wanted == NUMPY:
        return NUMPY
    if isal.library() is not None:
        return ISAL
    if wanted == ISAL:
        raise OperationalError(f"the ISA-L kernel was asked for: {isal.unavailable_reason()}")
    return NUMPY


def kernel_used() -> str | None:
    """The kernel of the last kernel object made in this process (None before the first)."""
    return _used[0]


def prepare() -> str:
    """Load what the automatic kernel needs (numpy or ISA-L) now; returns its name.

    Callers overlap this with I/O (the combiner hashes shares meanwhile).
    """
    name = kernel_name()
    if name == NUMPY:
        _np()
    return name


def _np() -> Any:
    # We use no BLAS: without this, importing numpy starts OpenBLAS's thread pool, which
    # costs a third of the import time. A value the user set is left alone.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import numpy  # imported lazily to keep `tcr --help` fast

    return numpy


_ZEROS = bytes(CHUNK_SIZE)


class BulkRandom:
    """A CSPRNG for bulk coefficient bytes: AES-256-CTR under a key from the OS.

    The construction (documented in ``docs/formats.md``): a fresh 32-byte key and 8-byte nonce
    per instance, one instance per split, both from :func:`random_bytes` (``os.urandom``
    unless a test installed a deterministic hook, so vectors stay reproducible); the output is
    the AES-256 keystream for the counter block ``nonce || 64-bit big-endian block counter``
    from 0, consumed in order and never reused. That is NIST SP 800-90A's CTR_DRBG generate
    function without derivation function or reseeding, within its limits (2^64 blocks per
    nonce is far beyond any secret). The cipher is OpenSSL's (pyca/cryptography), which
    measured 5.4 GB/s here against 2.5 GB/s for pycryptodome's AES-NI code with the same
    keystream, so randomness is a small part of a split. The key lives in the cipher object,
    freed with it.
    """

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        key = bytearray(random_bytes(32))
        nonce = random_bytes(8)
        try:
            # OpenSSL copies the key into its expanded schedule: wipe our copy.
            cipher = Cipher(algorithms.AES(key), modes.CTR(nonce + bytes(8)))
            self._encryptor = cipher.encryptor()
        finally:
            wipe(key)

    def fill(self, buf: bytearray | memoryview | Any) -> None:
        """Overwrite ``buf`` with the next ``len(buf)`` bytes of keystream."""
        view = memoryview(buf).cast("B")
        size = len(view)
        zeros = _ZEROS if size <= len(_ZEROS) else bytes(size)
        # Keystream = encryption of zeros, written straight into the buffer: one pass.
        self._encryptor.update_into(memoryview(zeros)[:size], view)


class _Tables:
    """numpy look-up tables ``c * x`` for one field: 8-bit and 16-bit (two bytes at once)."""

    def __init__(self, field: Field) -> None:
        self.field = field
        self._t8: dict[int, npt.NDArray[np.uint8]] = {}
        self._t16: dict[int, npt.NDArray[np.uint16]] = {}

    def t8(self, c: int) -> npt.NDArray[np.uint8]:
        table = self._t8.get(c)
        if table is None:
            numpy = _np()
            table = numpy.frombuffer(self.field.mul_table(c), dtype=numpy.uint8)
            self._t8[c] = table
        return table

    def t16(self, c: int) -> npt.NDArray[np.uint16]:
        table = self._t16.get(c)
        if table is None:
            numpy = _np()
            small = self.t8(c).astype(numpy.uint16)
            # Index i = hi * 256 + lo of a uint16 element; each byte is multiplied on its own,
            # so the byte order of the platform does not matter.
            table = ((small[:, None] << 8) | small[None, :]).ravel()
            self._t16[c] = table
        return table


_tables_cache: dict[int, _Tables] = {}


def _tables(field: Field) -> _Tables:
    tables = _tables_cache.get(field.poly)
    if tables is None:
        tables = _Tables(field)
        _tables_cache[field.poly] = tables
    return tables


def _as_u8(data: bytes | bytearray | memoryview) -> npt.NDArray[np.uint8]:
    numpy = _np()
    return numpy.frombuffer(data, dtype=numpy.uint8)  # type: ignore[no-any-return]


def linear_combination(
    tables: _Tables,
    coefficients: Sequence[int],
    inputs: Sequence[bytes | bytearray | memoryview],
    out: npt.NDArray[np.uint8],
    scratch: npt.NDArray[np.uint8],
) -> None:
    """``out = sum(c_i * inputs_i)`` byte-wise, all inputs ``len(out)`` bytes long."""
    numpy = _np()
    size = len(out)
    even = size & ~1
    out16 = out[:even].view(numpy.uint16)
    scratch16 = scratch[:even].view(numpy.uint16)
    first = True
    for coefficient, data in zip(coefficients, inputs, strict=True):
        if coefficient == 0:
            continue
        src = _as_u8(data)
        if len(src) != size:
            raise ValueError("inputs of different lengths")
        target16, target = (out16, out) if first else (scratch16, scratch)
        if coefficient == 1:
            target[:size] = src
        else:
            # mode="clip" skips numpy's bounds check (a uint16 index cannot leave a 65,536-entry
            # table), which makes the look-up about a third faster.
            numpy.take(
                tables.t16(coefficient), src[:even].view(numpy.uint16), out=target16, mode="clip"
            )
            if size & 1:
                target[even] = tables.t8(coefficient)[src[even]]
        if not first:
            numpy.bitwise_xor(out, scratch[:size], out=out)
        first = False
    if first:
        out[:] = 0


class SplitKernel:
    """Computes the shares of one chunk of secret for fixed x values and threshold."""

    def __init__(self, field: Field, xs: Sequence[int], threshold: int) -> None:
        if not 1 <= threshold <= len(xs) <= 255:
            raise ValueError("need 1 <= threshold <= number of shares <= 255")
        if len(set(xs)) != len(xs) or not all(1 <= x <= 255 for x in xs):
            raise ValueError("x values must be distinct and in 1..255")
        self.field = field
        self.xs = list(xs)
        self.threshold = threshold
        # Known points: (0, secret) and the first m-1 shares (random). Every further share is
        # the Lagrange combination of those m points evaluated at its own x.
        known = [0, *self.xs[: threshold - 1]]
        self._derived = [field.lagrange_coefficients(known, at=x) for x in self.xs[threshold - 1 :]]
        self.kernel = kernel_name()
        _used[0] = self.kernel
        if self.kernel == ISAL:
            from tcr_kit.sharing.isal import RegionEncoder

            self._encoder: isal.RegionEncoder | None = RegionEncoder(field, self._derived)
        else:
            self._encoder = None
            self._tables = _tables(field)

    @property
    def random_bytes_per_byte(self) -> int:
        """Random bytes the kernel consumes per secret byte."""
        return self.threshold - 1

    def buffers(self, size: int) -> list[Any]:
        """One reusable buffer per share for chunks of up to ``size`` bytes (see
        :meth:`random_arrays` and :meth:`process`): a split that recycles them allocates (and
        page-faults, and zeroes) no memory per chunk."""
        if self._encoder is not None:
            return [bytearray(size) for _ in self.xs]
        numpy = _np()
        return [numpy.empty(size, dtype=numpy.uint8) for _ in self.xs]

    def random_arrays(
        self, size: int, rng: BulkRandom, buffers: Sequence[Any] | None = None
    ) -> list[Any]:
        """Fresh random values for the first m-1 shares of a ``size``-byte chunk.

        Drawn by the caller, in order, so that a deterministic randomness hook gives
        deterministic shares even when chunks are processed on several threads. With
        ``buffers`` (from :meth:`buffers`) the values go into the first ``size`` bytes of
        the first m-1 of them, and views of those are returned.
        """
        if buffers is not None:
            views = [memoryview(b)[:size] for b in buffers[: self.threshold - 1]]
            for view in views:
                rng.fill(view)
            return views
        if self._encoder is not None:
            fresh = [bytearray(size) for _ in range(self.threshold - 1)]
            for buffer in fresh:
                rng.fill(buffer)
            return fresh
        numpy = _np()
        arrays = []
        for _ in range(self.threshold - 1):
            buf = numpy.empty(size, dtype=numpy.uint8)
            rng.fill(memoryview(buf))
            arrays.append(buf)
        return arrays

    def process(
        self,
        secret: bytes | bytearray | memoryview,
        randoms: Sequence[Any],
        buffers: Sequence[Any] | None = None,
    ) -> list[Any]:
        """The share chunks (one buffer per x, in order) of this secret chunk.

        The first m-1 are ``randoms`` themselves; each supports ``memoryview`` and ``wipe``.
        With ``buffers`` (from :meth:`buffers`, the ones ``randoms`` came from) the other
        shares are computed into the rest of them, and views are returned.
        """
        size = memoryview(secret).nbytes
        if len(randoms) != self.threshold - 1 or any(len(r) != size for r in randoms):
            raise ValueError("need threshold-1 random arrays of the chunk's size")
        m = self.threshold
        if self._encoder is not None:
            if buffers is not None:
                derived: list[Any] = [memoryview(b)[:size] for b in buffers[m - 1 :]]
            else:
                derived = [bytearray(size) for _ in self._derived]
            self._encoder.encode([secret, *randoms], derived)
            return [*randoms, *derived]
        numpy = _np()
        outputs: list[Any] = list(randoms)
        known_inputs: list[bytes | bytearray | memoryview] = [
            secret,
            *(memoryview(o) for o in outputs),
        ]
        scratch = numpy.empty(size, dtype=numpy.uint8)
        for i, coefficients in enumerate(self._derived):
            if buffers is not None:
                out = numpy.frombuffer(memoryview(buffers[m - 1 + i])[:size], dtype=numpy.uint8)
            else:
                out = numpy.empty(size, dtype=numpy.uint8)
            linear_combination(self._tables, coefficients, known_inputs, out, scratch)
            outputs.append(out)
        return outputs


class CombineKernel:
    """Interpolates f(0) chunk by chunk from shares at fixed x values."""

    def __init__(self, field: Field, xs: Sequence[int]) -> None:
        if not xs or len(set(xs)) != len(xs) or not all(1 <= x <= 255 for x in xs):
            raise ValueError("x values must be distinct and in 1..255")
        self.field = field
        self.xs = list(xs)
        self.coefficients = field.lagrange_coefficients(self.xs, at=0)
        self.kernel = kernel_name()
        _used[0] = self.kernel
        if self.kernel == ISAL:
            from tcr_kit.sharing.isal import RegionEncoder

            self._encoder: isal.RegionEncoder | None = RegionEncoder(field, [self.coefficients])
        else:
            self._encoder = None
            self._tables = _tables(field)

    def process(self, chunks: Sequence[bytes | bytearray | memoryview], out: Any = None) -> Any:
        """The secret chunk; ``out`` may be a preallocated writable buffer of the right size.

        Returns ``out`` or a new buffer (``bytearray`` on ISA-L, numpy array otherwise).
        """
        size = memoryview(chunks[0]).nbytes
        if self._encoder is not None:
            if out is None:
                out = bytearray(size)
            self._encoder.encode(chunks, [out])
            return out
        numpy = _np()
        if out is None:
            out = numpy.empty(size, dtype=numpy.uint8)
        scratch = numpy.empty(size, dtype=numpy.uint8)
        linear_combination(self._tables, self.coefficients, chunks, out, scratch)
        return out


def split_small(field: Field, secret: bytes, xs: Sequence[int], threshold: int) -> list[bytes]:
    """Split a short value (keys, tags) with coefficients from :func:`random_bytes`.

    Horner evaluation of a random polynomial, in pure Python: the reference the streaming
    kernel is tested against, and what integrity keys use.
    """
    if not 1 <= threshold <= len(xs) <= 255:
        raise ValueError("need 1 <= threshold <= number of shares <= 255")
    if len(set(xs)) != len(xs) or not all(1 <= x <= 255 for x in xs):
        raise ValueError("x values must be distinct and in 1..255")
    coefficients = [random_bytes(len(secret)) for _ in range(threshold - 1)]
    shares = []
    for x in xs:
        shares.append(
            bytes(
                field.eval_poly([s, *(c[i] for c in coefficients)], x) for i, s in enumerate(secret)
            )
        )
    return shares
