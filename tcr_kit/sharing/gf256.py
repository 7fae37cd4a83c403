"""Arithmetic in GF(2^8), for any irreducible degree-8 polynomial.

tcr-kit's own shares and HashiCorp Vault use the Rijndael (AES) polynomial
x^8 + x^4 + x^3 + x + 1 (0x11B); libgfshare uses x^8 + x^4 + x^3 + x^2 + 1 (0x11D). Both are
the same field up to isomorphism, but the byte values differ, so every peer format names
its polynomial and the arithmetic is built per polynomial.

Multiplication goes through log/exp tables over a generator of the multiplicative group;
the generator is found, not assumed, so that a wrong polynomial constant is caught when the
field is built (a reducible polynomial has no generator of order 255).

For bulk data the streaming engine needs "multiply every byte by the constant c": that is a
256-byte translation table (:meth:`Field.mul_table`), usable by ``bytes.translate`` and as
the source of numpy look-up tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

RIJNDAEL_POLY = 0x11B
"""x^8 + x^4 + x^3 + x + 1: AES, tcr-kit native shares, HashiCorp Vault."""

GFSHARE_POLY = 0x11D
"""x^8 + x^4 + x^3 + x^2 + 1: libgfshare (gfsplit/gfcombine)."""


def _slow_mul(a: int, b: int, poly: int) -> int:
    """Carry-less multiply modulo ``poly``: the definition, used to build the tables."""
    result = 0
    while b:
        if b & 1:
            result ^= a
        b >>= 1
        a <<= 1
        if a & 0x100:
            a ^= poly
    return result


class Field:
    """GF(2^8) defined by an irreducible polynomial given as a 9-bit integer."""

    __slots__ = ("_log", "_logs", "_mul_tables", "exp", "generator", "poly")

    def __init__(self, poly: int) -> None:
        if not 0x100 <= poly <= 0x1FF:
            raise ValueError("polynomial must have degree 8")
        self.poly = poly
        self.generator = self._find_generator()
        exp = [0] * 510
        log = [0] * 256
        value = 1
        for i in range(255):
            exp[i] = value
            log[value] = i
            value = _slow_mul(value, self.generator, poly)
        for i in range(255, 510):
            exp[i] = exp[i - 255]
        self.exp: tuple[int, ...] = tuple(exp)
        self._log: tuple[int, ...] = tuple(log)
        self._logs = bytes(log[1:])  # log x for x = 1..255
        self._mul_tables: dict[int, bytes] = {}

    def _find_generator(self) -> int:
        for candidate in range(2, 256):
            value, order = candidate, 1
            while value != 1:
                value = _slow_mul(value, candidate, self.poly)
                order += 1
                if order > 255 or value == 0:
                    break
            if value == 1 and order == 255:
                return candidate
        raise ValueError(f"polynomial {self.poly:#x} is not irreducible and primitive-rooted")

    def __repr__(self) -> str:
        return f"Field(poly={self.poly:#x}, generator={self.generator:#x})"

    def mul(self, a: int, b: int) -> int:
        """Product of two field elements."""
        if a == 0 or b == 0:
            return 0
        return self.exp[self._log[a] + self._log[b]]

    def inv(self, a: int) -> int:
        """Multiplicative inverse; 0 has none."""
        if a == 0:
            raise ZeroDivisionError("0 has no inverse in GF(2^8)")
        return self.exp[255 - self._log[a]]

    def div(self, a: int, b: int) -> int:
        """``a / b``."""
        if b == 0:
            raise ZeroDivisionError("division by 0 in GF(2^8)")
        if a == 0:
            return 0
        return self.exp[self._log[a] + 255 - self._log[b]]

    def pow(self, a: int, e: int) -> int:
        """``a`` to the power ``e`` (``e`` >= 0)."""
        if e < 0:
            raise ValueError("negative exponent")
        if e == 0:
            return 1
        if a == 0:
            return 0
        return self.exp[(self._log[a] * e) % 255]

    def log(self, a: int) -> int:
        """Discrete logarithm base :attr:`generator`."""
        if a == 0:
            raise ValueError("log of 0")
        return self._log[a]

    def mul_table(self, c: int) -> bytes:
        """256-byte table ``t`` with ``t[x] == c * x``: for ``bytes.translate`` and numpy."""
        table = self._mul_tables.get(c)
        if table is None:
            if c == 0:
                table = bytes(256)
            else:
                # c * x = exp[log c + log x] for x != 0: translate the logs of 1..255 through
                # the exp table shifted by log c (C speed; kernels build tables per set-up).
                shift = self._log[c]
                shifted = bytes(self.exp[shift : shift + 255]) + b"\x00"
                table = b"\x00" + self._logs.translate(shifted)
            self._mul_tables[c] = table
        return table

    def lagrange_coefficients(self, xs: Sequence[int], at: int = 0) -> list[int]:
        """Coefficients ``l_i`` with ``f(at) == sum(l_i * f(xs[i]))`` for deg f < len(xs).

        The x values must be distinct; they may be zero only where ``at`` is not among them.
        """
        if len(set(xs)) != len(xs):
            raise ValueError("x values must be distinct")
        coefficients = []
        for i, xi in enumerate(xs):
            numerator, denominator = 1, 1
            for j, xj in enumerate(xs):
                if i != j:
                    numerator = self.mul(numerator, at ^ xj)
                    denominator = self.mul(denominator, xi ^ xj)
            coefficients.append(self.div(numerator, denominator))
        return coefficients

    def eval_poly(self, coefficients: Sequence[int], x: int) -> int:
        """Evaluate ``sum(coefficients[k] * x**k)`` by Horner's rule."""
        result = 0
        for c in reversed(coefficients):
            result = self.mul(result, x) ^ c
        return result

    def interpolate(self, points: Sequence[tuple[int, bytes]], at: int = 0) -> bytes:
        """Byte-wise Lagrange interpolation of equal-length ``(x, y)`` points at ``at``.

        For small values (keys, tags, short secrets); the streaming engine handles files.
        """
        if not points:
            raise ValueError("no points")
        length = len(points[0][1])
        if any(len(y) != length for _, y in points):
            raise ValueError("points have different lengths")
        coefficients = self.lagrange_coefficients([x for x, _ in points], at)
        acc = 0
        for coefficient, (_, y) in zip(coefficients, points, strict=True):
            product = y.translate(self.mul_table(coefficient))
            acc ^= int.from_bytes(product, "big")
        return acc.to_bytes(length, "big")


def isomorphism(source: Field, target: Field) -> tuple[bytes, bytes]:
    """The field isomorphism ``phi`` from ``source`` to ``target``, as two 256-byte tables.

    Returns ``(forward, inverse)`` with ``forward[a] == phi(a)`` and ``inverse[phi(a)] == a``,
    for ``bytes.translate``. Built on generators: ``phi`` sends the source's generator ``g`` to
    a generator ``h`` of the target, so ``phi(g^k) = h^k`` is multiplicative by construction;
    ``h`` is the first generator for which ``phi`` is also additive. A multiplicative
    bijection is additive exactly when ``phi(x ^ 1) == phi(x) ^ 1`` for every ``x`` (write
    ``a ^ b`` as ``b * (a / b ^ 1)``), which takes 256 checks per candidate.
    """
    for h in range(2, 256):
        if len({target.pow(h, k) for k in range(255)}) != 255:
            continue  # not a generator
        forward = [0] * 256
        for k in range(255):
            forward[source.exp[k]] = target.pow(h, k)
        if all(forward[x ^ 1] == forward[x] ^ 1 for x in range(256)):
            inverse = [0] * 256
            for a, b in enumerate(forward):
                inverse[b] = a
            return bytes(forward), bytes(inverse)
    raise ValueError(f"no isomorphism from {source!r} to {target!r}")  # pragma: no cover


@cache
def field(poly: int = RIJNDAEL_POLY) -> Field:
    """The shared :class:`Field` instance for ``poly`` (tables are built once)."""
    return Field(poly)
