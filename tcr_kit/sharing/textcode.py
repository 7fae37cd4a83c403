"""Crockford base32 for shares people read aloud, type and write on paper.

The alphabet has no I, L, O or U; decoding is case-insensitive, maps the look-alikes
``O`` to ``0`` and ``I``/``L`` to ``1``, and ignores spaces, line breaks and hyphens so that
grouping is free. Bits are taken most significant first; the last symbol's unused low bits
must be zero, so every byte string has exactly one canonical text.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base32 alphabet: digits and letters without I, L, O, U."""

_DECODE = {c: i for i, c in enumerate(ALPHABET)}
_DECODE.update({"O": 0, "I": 1, "L": 1})
_IGNORED = frozenset(" \t\r\n-")


def encode(data: bytes) -> str:
    """Base32 text of ``data`` (no grouping, no padding characters)."""
    bits = len(data) * 8
    symbols = (bits + 4) // 5
    value = int.from_bytes(data, "big") << (symbols * 5 - bits)
    out = []
    for shift in range((symbols - 1) * 5, -1, -5):
        out.append(ALPHABET[(value >> shift) & 31])
    return "".join(out)


def normalize(text: str) -> str:
    """Upper-case, drop separators and white space, map look-alikes to their digits."""
    out = []
    for ch in text.upper():
        if ch in _IGNORED:
            continue
        out.append(ch)
    return "".join(out)


class DecodeError(ValueError):
    """Text that is not canonical Crockford base32 (an invalid symbol or padding)."""


def decode(text: str) -> bytes:
    """Bytes of a normalized or raw base32 text; raises :class:`DecodeError`."""
    symbols = normalize(text)
    value = 0
    for position, ch in enumerate(symbols, 1):
        digit = _DECODE.get(ch)
        if digit is None:
            raise DecodeError(f"character {position} ({ch!r}) is not a base32 symbol")
        value = (value << 5) | digit
    bits = len(symbols) * 5
    length = bits // 8
    pad = bits - length * 8
    if pad >= 5:
        raise DecodeError("text length is not a whole number of bytes")
    if value & ((1 << pad) - 1):
        raise DecodeError("non-zero padding bits in the last symbol")
    return (value >> pad).to_bytes(length, "big")


def group(text: str, size: int = 5, per_line: int = 6) -> str:
    """Split ``text`` into groups of ``size`` joined by spaces, ``per_line`` groups a line."""
    groups = [text[i : i + size] for i in range(0, len(text), size)]
    lines = [" ".join(groups[i : i + per_line]) for i in range(0, len(groups), per_line)]
    return "\n".join(lines)
