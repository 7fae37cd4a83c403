"""B. Poettering's ssss (``ssss-split`` / ``ssss-combine``, version 0.5): import and export.

Facts of the format, taken from ssss 0.5's documentation and source and confirmed by the
integration tests against the Debian binary:

* The field is GF(2^n) with n = 8 x the secret's bytes (8..1024, or the ``-s`` level), reduced
  by the pentanomial x^n + x^a + x^b + x^c + 1 whose (a, b, c) ssss tabulates per degree.
* The polynomial is **monic of degree t**: share(x) = x^t + c_{t-1} x^{t-1} + ... + c_1 x + c_0
  with c_0 the (diffused) secret and x = 1..n, so combining needs the exact threshold t.
* The diffusion layer (on unless ``-D``; only for n >= 64) runs a key-less XTEA block
  permutation over overlapping 8-byte windows of the secret, 40 x (n / 8) / 2 times.
* A share is ``[token-]index-hex``: the index zero-padded to the digits of the share count,
  the value as n / 4 lower-case hex digits.
* ``-x`` (hex mode) reads and prints the secret in hex, padded to n / 8 bytes; ASCII mode
  prints the secret's bytes without leading zero bytes.

Secrets here are at most 128 bytes, so the arithmetic is plain Python integers: those cannot
be wiped, which this module states rather than hides (the result is still a wipeable buffer).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tcr_kit.errors import InputError
from tcr_kit.secrets import SecretBuffer, random_bytes
from tcr_kit.sharing.errors import ForeignShareError, ShareError
from tcr_kit.sharing.formats.base import ForeignOptions, ShareFacts, TextFormat, parses
from tcr_kit.sharing.formats.common import (
    agreeing_extra_note,
    drop_repeats,
    refuse_off_polynomial,
    require_enough,
)
from tcr_kit.sharing.result import CombineResult

FORMAT_NAME = "ssss"
"""Name of this format in auto-detection and reports."""

MIN_BITS = 8
"""Smallest field ssss supports (one byte)."""
MAX_BITS = 1024
"""Largest field ssss supports (128 bytes)."""
DIFFUSION_MIN_BITS = 64
"""ssss skips the diffusion layer below this security level (with a warning)."""
MAX_TOKEN_LEN = 128
"""ssss-split refuses longer tokens."""
MAX_SHARES = 255
"""tcr-kit's bound on the share count (ssss itself has none and then repeats x values)."""
MAX_INDEX_DIGITS = 9
"""Indices longer than this are not ssss shares (ssss parses them with ``atoi``)."""

# fmt: off
_IRREDUCIBLE_FLAT = (
    4, 3, 1, 5, 3, 1, 4, 3, 1, 7, 3, 2, 5, 4, 3, 5, 3, 2, 7, 4, 2, 4, 3, 1,
    10, 9, 3, 9, 4, 2, 7, 6, 2, 10, 9, 6, 4, 3, 1, 5, 4, 3, 4, 3, 1, 7, 2, 1,
    5, 3, 2, 7, 4, 2, 6, 3, 2, 5, 3, 2, 15, 3, 2, 11, 3, 2, 9, 8, 7, 7, 2, 1,
    5, 3, 2, 9, 3, 1, 7, 3, 1, 9, 8, 3, 9, 4, 2, 8, 5, 3, 15, 14, 10, 10, 5, 2,
    9, 6, 2, 9, 3, 2, 9, 5, 2, 11, 10, 1, 7, 3, 2, 11, 2, 1, 9, 7, 4, 4, 3, 1,
    8, 3, 1, 7, 4, 1, 7, 2, 1, 13, 11, 6, 5, 3, 2, 7, 3, 2, 8, 7, 5, 12, 3, 2,
    13, 10, 6, 5, 3, 2, 5, 3, 2, 9, 5, 2, 9, 7, 2, 13, 4, 3, 4, 3, 1, 11, 6, 4,
    18, 9, 6, 19, 18, 13, 11, 3, 2, 15, 9, 6, 4, 3, 1, 16, 5, 2, 15, 14, 6, 8, 5, 2,
    15, 11, 2, 11, 6, 2, 7, 5, 3, 8, 3, 1, 19, 16, 9, 11, 9, 6, 15, 7, 6, 13, 4, 3,
    14, 13, 3, 13, 6, 3, 9, 5, 2, 19, 13, 6, 19, 10, 3, 11, 6, 5, 9, 2, 1, 14, 3, 2,
    13, 3, 1, 7, 5, 4, 11, 9, 8, 11, 6, 5, 23, 16, 9, 19, 14, 6, 23, 10, 2, 8, 3, 2,
    5, 4, 3, 9, 6, 4, 4, 3, 2, 13, 8, 6, 13, 11, 1, 13, 10, 3, 11, 6, 5, 19, 17, 4,
    15, 14, 7, 13, 9, 6, 9, 7, 3, 9, 7, 1, 14, 3, 2, 11, 8, 2, 11, 6, 4, 13, 5, 2,
    11, 5, 1, 11, 4, 1, 19, 10, 3, 21, 10, 6, 13, 3, 1, 15, 7, 5, 19, 18, 10, 7, 5, 3,
    12, 7, 2, 7, 5, 1, 14, 9, 6, 10, 3, 2, 15, 13, 12, 12, 11, 9, 16, 9, 7, 12, 9, 3,
    9, 5, 2, 17, 10, 6, 24, 9, 3, 17, 15, 13, 5, 4, 3, 19, 17, 8, 15, 6, 3, 19, 6, 1,
)
# fmt: on

IRREDUCIBLE_COEFFICIENTS: tuple[tuple[int, int, int], ...] = tuple(
    (_IRREDUCIBLE_FLAT[i], _IRREDUCIBLE_FLAT[i + 1], _IRREDUCIBLE_FLAT[i + 2])
    for i in range(0, len(_IRREDUCIBLE_FLAT), 3)
)
"""(a, b, c) of ssss's irreducible x^n + x^a + x^b + x^c + 1, for n = 8, 16, ..., 1024."""

_SHARE_RE = re.compile(
    rf"^(?:(?P<token>[^\s-]{{1,{MAX_TOKEN_LEN}}})-)?"
    rf"(?P<index>[0-9]{{1,{MAX_INDEX_DIGITS}}})-(?P<value>[0-9A-Fa-f]+)$"
)


def field_polynomial(bits: int) -> int:
    """ssss's reduction polynomial for GF(2^bits), as an integer with bit ``bits`` set."""
    if not valid_bits(bits):
        raise ValueError("ssss fields are GF(2^n) for n a multiple of 8 in 8..1024")
    a, b, c = IRREDUCIBLE_COEFFICIENTS[bits // 8 - 1]
    return (1 << bits) | (1 << a) | (1 << b) | (1 << c) | 1


def valid_bits(bits: int) -> bool:
    """True for the security levels ssss accepts."""
    return MIN_BITS <= bits <= MAX_BITS and bits % 8 == 0


class BinaryField:
    """GF(2^n) in polynomial basis with ssss's polynomial; elements are Python ints."""

    __slots__ = ("bits", "poly")

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.poly = field_polynomial(bits)

    def reduce(self, value: int) -> int:
        """``value`` modulo the field polynomial."""
        bits, poly = self.bits, self.poly
        length = value.bit_length()
        while length > bits:
            value ^= poly << (length - 1 - bits)
            length = value.bit_length()
        return value

    def mul(self, a: int, b: int) -> int:
        """Product in the field (carry-less multiply, then reduce)."""
        if a.bit_length() < b.bit_length():
            a, b = b, a
        product = 0
        shift = 0
        while b:
            if b & 1:
                product ^= a << shift
            b >>= 1
            shift += 1
        return self.reduce(product)

    def inv(self, a: int) -> int:
        """Multiplicative inverse by the extended Euclidean algorithm over GF(2)[x]."""
        if a == 0:
            raise ZeroDivisionError("0 has no inverse")
        u, v = self.reduce(a), self.poly
        g1, g2 = 1, 0
        while u != 1:
            if u == 0:
                raise ZeroDivisionError("not invertible modulo the field polynomial")
            shift = u.bit_length() - v.bit_length()
            if shift < 0:
                u, v = v, u
                g1, g2 = g2, g1
                shift = -shift
            u ^= v << shift
            g1 ^= g2 << shift
        return self.reduce(g1)

    def pow(self, a: int, e: int) -> int:
        """``a`` to the non-negative power ``e``."""
        result = 1
        base = a
        while e:
            if e & 1:
                result = self.mul(result, base)
            base = self.mul(base, base)
            e >>= 1
        return result

    def eval_monic(self, coefficients: Sequence[int], x: int) -> int:
        """ssss's ``horner``: x^t + sum(coefficients[k] x^k), t = len(coefficients)."""
        y = x
        for c in reversed(coefficients[1:]):
            y = self.mul(y ^ c, x)
        return y ^ coefficients[0]

    def lagrange_at(self, points: Sequence[tuple[int, int]], at: int) -> int:
        """Value at ``at`` of the polynomial of degree < len(points) through ``points``."""
        total = 0
        for i, (xi, yi) in enumerate(points):
            numerator, denominator = 1, 1
            for j, (xj, _) in enumerate(points):
                if i != j:
                    numerator = self.mul(numerator, at ^ xj)
                    denominator = self.mul(denominator, xi ^ xj)
            total ^= self.mul(yi, self.mul(numerator, self.inv(denominator)))
        return total


# --- the diffusion layer ------------------------------------------------------------------

_DELTA = 0x9E3779B9
_MASK32 = 0xFFFFFFFF
_ROUNDS = 32


def _encipher(v0: int, v1: int) -> tuple[int, int]:
    """XTEA with an all-zero key: ssss's 64-bit pseudo-random permutation."""
    total = 0
    for _ in range(_ROUNDS):
        v0 = (v0 + ((((v1 << 4) & _MASK32) ^ (v1 >> 5)) + v1 ^ total)) & _MASK32
        total = (total + _DELTA) & _MASK32
        v1 = (v1 + ((((v0 << 4) & _MASK32) ^ (v0 >> 5)) + v0 ^ total)) & _MASK32
    return v0, v1


def _decipher(v0: int, v1: int) -> tuple[int, int]:
    total = (_DELTA * _ROUNDS) & _MASK32
    for _ in range(_ROUNDS):
        v1 = (v1 - ((((v0 << 4) & _MASK32) ^ (v0 >> 5)) + v0 ^ total)) & _MASK32
        total = (total - _DELTA) & _MASK32
        v0 = (v0 - ((((v1 << 4) & _MASK32) ^ (v1 >> 5)) + v1 ^ total)) & _MASK32
    return v0, v1


def _slice(data: bytearray, start: int, decode: bool) -> None:
    length = len(data)
    positions = [(start + k) % length for k in range(8)]
    v0 = int.from_bytes(bytes(data[p] for p in positions[:4]), "big")
    v1 = int.from_bytes(bytes(data[p] for p in positions[4:]), "big")
    v0, v1 = _decipher(v0, v1) if decode else _encipher(v0, v1)
    for p, byte in zip(positions, v0.to_bytes(4, "big") + v1.to_bytes(4, "big"), strict=True):
        data[p] = byte


def _diffusion_bytes(value: int, bits: int) -> bytearray:
    """ssss's byte order: 16-bit big-endian words, least significant word first."""
    words = (bits + 8) // 16
    raw = value.to_bytes(words * 2, "big")
    data = bytearray()
    for k in range(words - 1, -1, -1):
        data += raw[2 * k : 2 * k + 2]
    if bits % 16 == 8:
        # An odd byte count: the top word's low byte moves into its (zero) high byte.
        data[bits // 8 - 1] = data[bits // 8]
        del data[bits // 8 :]
    return data


def _diffusion_value(data: bytearray, bits: int) -> int:
    buf = bytearray(data)
    if bits % 16 == 8:
        buf += bytes([buf[-1]])
        buf[bits // 8 - 1] = 0
    words = len(buf) // 2
    raw = bytearray()
    for k in range(words - 1, -1, -1):
        raw += buf[2 * k : 2 * k + 2]
    return int.from_bytes(raw, "big")


def diffuse(value: int, bits: int, *, decode: bool = False) -> int:
    """Apply (or, with ``decode``, undo) ssss's diffusion layer to an n-bit value (n >= 64)."""
    if bits < DIFFUSION_MIN_BITS or not valid_bits(bits):
        raise ValueError("the diffusion layer needs a security level of 64..1024 bits")
    if value >> bits:
        raise ValueError("value wider than the field")
    data = _diffusion_bytes(value, bits)
    length = bits // 8
    starts = range(0, 40 * length, 2)
    for start in reversed(starts) if decode else starts:
        _slice(data, start, decode)
    return _diffusion_value(data, bits)


# --- shares -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SsssShare:
    """One parsed ssss share. ``value`` is the y value; ``bits`` the field size."""

    index: int
    value: int
    bits: int
    token: str | None
    source: str

    def __repr__(self) -> str:
        return f"SsssShare(index={self.index}, bits={self.bits}, source={self.source!r})"


def looks_like(text: str) -> bool:
    """True if ``text`` has the shape of an ssss share (``[token-]index-hex``, valid length)."""
    return parses(parse, text)


def parse(text: str, source: str) -> SsssShare:
    """Parse one ssss share; :class:`ShareError` naming ``source`` if it is not one."""
    if not isinstance(text, str):
        raise ShareError(source, "not a text share")
    match = _SHARE_RE.match(text.strip())
    if match is None:
        raise ShareError(source, "not an ssss share (expected [token-]index-hexdigits)")
    digits = match["value"]
    bits = 4 * len(digits)
    if not valid_bits(bits):
        raise ShareError(
            source,
            f"ssss share has {len(digits)} hex digits; ssss uses an even number from 2 to 256",
        )
    index = int(match["index"])
    if index == 0:
        raise ShareError(source, "share index 0 is not allowed (it would reveal the secret)")
    if index >> bits:
        raise ShareError(source, f"share index {index} lies outside GF(2^{bits})")
    return SsssShare(
        index=index, value=int(digits, 16), bits=bits, token=match["token"], source=source
    )


def _check_parameters(threshold: int, count: int) -> None:
    if not 2 <= threshold <= count:
        raise ValueError("ssss needs 2 <= threshold <= count")
    if count > MAX_SHARES:
        raise ValueError(f"at most {MAX_SHARES} shares (ssss would repeat x values beyond)")


def _check_token(token: str | None) -> None:
    if token is None:
        return
    if not 1 <= len(token) <= MAX_TOKEN_LEN:
        raise ValueError(f"the token must have 1 to {MAX_TOKEN_LEN} characters")
    if not all(33 <= ord(ch) <= 126 and ch != "-" for ch in token):
        raise ValueError("the token must be printable ASCII without spaces or '-'")


def split(
    secret: bytes | bytearray,
    threshold: int,
    count: int,
    *,
    token: str | None = None,
    diffusion: bool = True,
    hex: bool = True,
    bits: int | None = None,
) -> list[str]:
    """Split ``secret`` into ``count`` ssss shares, any ``threshold`` of which recover it.

    ``hex=False`` is ssss's ASCII mode: the secret must be printable ASCII, as ssss-split
    would read it from a terminal. ``bits`` is ssss's ``-s`` security level (default: the
    secret's length). ``diffusion=False`` is ssss's ``-D``. The shares come back in index
    order, formatted exactly as ssss-split prints them.
    """
    _check_parameters(threshold, count)
    _check_token(token)
    if not 1 <= len(secret) <= MAX_BITS // 8:
        raise ValueError("ssss secrets are 1 to 128 bytes")
    if not hex and not all(32 <= b <= 126 for b in secret):
        raise ValueError("ASCII mode needs a printable ASCII secret; use hex mode")
    level = 8 * len(secret) if bits is None else bits
    if not valid_bits(level) or level < 8 * len(secret):
        raise ValueError("security level must be a multiple of 8 in 8..1024 holding the secret")
    gf = BinaryField(level)
    value = int.from_bytes(secret, "big")
    if diffusion and level >= DIFFUSION_MIN_BITS:
        value = diffuse(value, level)
    coefficients = [value]
    for _ in range(threshold - 1):
        coefficients.append(int.from_bytes(random_bytes(level // 8), "big"))
    width = len(str(count))
    prefix = f"{token}-" if token is not None else ""
    shares = [
        f"{prefix}{x:0{width}d}-{gf.eval_monic(coefficients, x):0{level // 4}x}"
        for x in range(1, count + 1)
    ]
    coefficients.clear()
    return shares


def combine(
    shares: Sequence[SsssShare],
    *,
    threshold: int | None = None,
    diffusion: bool = True,
    hex: bool = True,
) -> CombineResult:
    """Recover the secret from ssss shares.

    ssss shares do not record their threshold, and because ssss's polynomial is monic of
    degree t the exact threshold is needed: pass ``threshold`` (ssss-combine's ``-t``);
    without it every share given is taken to be needed. Shares beyond the threshold are
    checked to lie on the same polynomial. ``hex=False`` returns the secret as ssss's ASCII
    mode prints it (leading zero bytes dropped).
    """
    if threshold is not None and threshold < 2:
        raise ValueError("ssss thresholds are at least 2")
    warnings: list[str] = []
    unique, rejected = drop_repeats(
        shares,
        key=lambda s: s.index,
        same=lambda a, b: a.value == b.value and a.bits == b.bits,
        slot=lambda s: f"index {s.index}",
    )
    require_enough(unique, threshold)
    first = unique[0]
    for share in unique[1:]:
        if share.bits != first.bits:
            raise ForeignShareError(
                share.source,
                f"{share.bits}-bit share does not belong with {first.bits}-bit {first.source}",
            )
        if share.token != first.token:
            raise ForeignShareError(
                share.source,
                f"token {share.token!r} differs from {first.source}'s {first.token!r}",
            )
    if threshold is None:
        threshold = len(unique)
        warnings.append(
            f"ssss shares do not record their threshold: all {threshold} shares were used as "
            "the threshold; if the real threshold differs, the result is wrong and nothing "
            "can tell."
        )
    gf = BinaryField(first.bits)
    base, extra = unique[:threshold], unique[threshold:]
    # Remove the monic x^t term, then interpolate the remaining degree < t polynomial.
    points = [(s.index, s.value ^ gf.pow(s.index, threshold)) for s in base]
    culprits = [
        s.source
        for s in extra
        if gf.lagrange_at(points, s.index) ^ gf.pow(s.index, threshold) != s.value
    ]
    refuse_off_polynomial(culprits, (s.source for s in base), threshold)
    value = gf.lagrange_at(points, 0)
    if diffusion:
        if first.bits >= DIFFUSION_MIN_BITS:
            value = diffuse(value, first.bits, decode=True)
        else:
            warnings.append(
                f"a {first.bits}-bit security level is below ssss's 64 bits for the diffusion "
                "layer, so none was applied (as ssss does)."
            )
    secret = bytearray(value.to_bytes(first.bits // 8, "big"))
    if not hex:
        zeros = len(secret) - len(secret.lstrip(b"\x00"))
        del secret[:zeros]
        if not all(32 <= b <= 126 for b in secret):
            warnings.append(
                "the secret is not printable ASCII (ssss-combine would print dots): use hex mode."
            )
    if extra:
        warnings.append(agreeing_extra_note(len(extra)))
    warnings.append(
        "ssss shares carry no checksum or digest: the secret cannot be verified, and wrong "
        "shares or a wrong threshold give a wrong secret without an error."
    )
    return CombineResult(
        secret=SecretBuffer.adopt(secret),
        verified=False,
        used=[s.source for s in unique],
        rejected=rejected,
        warnings=warnings,
    )


# --- share files ---------------------------------------------------------------------------


def _split_with(
    secret: bytearray, threshold: int, count: int, options: ForeignOptions
) -> list[str]:
    return split(
        secret,
        threshold,
        count,
        token=options.ssss_token,
        diffusion=options.ssss_diffusion,
        hex=options.ssss_hex,
    )


def _combine_with(
    shares: Sequence[SsssShare], options: ForeignOptions, threshold: int | None
) -> CombineResult:
    if threshold is None:
        raise InputError(
            "ssss shares do not record their threshold: give it with --threshold "
            "(a wrong value silently gives a wrong secret, in ssss-combine too)"
        )
    return combine(
        shares, threshold=threshold, diffusion=options.ssss_diffusion, hex=options.ssss_hex
    )


def _facts(share: SsssShare, facts: ShareFacts) -> None:
    facts.index = share.index
    facts.secret_length = share.bits // 8
    facts.label = share.token or ""
    facts.checksum = "none"


FORMAT: TextFormat[SsssShare] = TextFormat(
    FORMAT_NAME,
    looks_like=looks_like,
    parse=parse,
    split=_split_with,
    combine=_combine_with,
    facts=_facts,
)
"""ssss share files (``<stem>.ssss-NNN.txt``, one share a file) as a :class:`PeerFormat`."""
