"""Crockford base32 for shares people read aloud, type and write on paper.

The alphabet has no I, L, O or U; decoding is case-insensitive, maps the look-alikes
``O`` to ``0`` and ``I``/``L`` to ``1``, and ignores spaces, line breaks and hyphens so that
grouping is free. Bits are taken most significant first; the last symbol's unused low bits
must be zero, so every byte string has exactly one canonical text.

Encoding and decoding take time linear in the size: the work is done by the standard
library's base32 codec (RFC 4648 alphabet) with a one-to-one translation of the symbols.
"""

from __future__ import annotations

import base64
import re

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base32 alphabet: digits and letters without I, L, O, U."""

_RFC4648 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_RFC = str.maketrans(ALPHABET, _RFC4648)
_FROM_RFC = str.maketrans(_RFC4648, ALPHABET)
_NORMALIZE = str.maketrans({"O": "0", "I": "1", "L": "1", " ": None, "\t": None,
                            "\r": None, "\n": None, "-": None})  # fmt: skip
_NOT_A_SYMBOL = re.compile(f"[^{ALPHABET}]")
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_PAD_BITS = {0: 0, 2: 2, 4: 4, 5: 1, 7: 3}
"""Unused low bits of the last symbol, by the number of symbols modulo 8 (others invalid)."""


def encode(data: bytes | bytearray | memoryview) -> str:
    """Base32 text of ``data`` (no grouping, no padding characters)."""
    return base64.b32encode(data).decode("ascii").rstrip("=").translate(_FROM_RFC)


def normalize(text: str) -> str:
    """Upper-case, drop separators and white space, map look-alikes to their digits."""
    return text.upper().translate(_NORMALIZE)


class DecodeError(ValueError):
    """Text that is not canonical Crockford base32 (an invalid symbol or padding)."""


def decode(text: str) -> bytes:
    """Bytes of a normalized or raw base32 text; raises :class:`DecodeError`."""
    symbols = normalize(text)
    bad = _NOT_A_SYMBOL.search(symbols)
    if bad is not None:
        raise DecodeError(f"character {bad.start() + 1} ({bad.group()!r}) is not a base32 symbol")
    pad = _PAD_BITS.get(len(symbols) % 8)
    if pad is None:
        raise DecodeError("text length is not a whole number of bytes")
    if pad and _VALUE[symbols[-1]] & ((1 << pad) - 1):
        raise DecodeError("non-zero padding bits in the last symbol")
    padded = symbols.translate(_TO_RFC) + "=" * (-len(symbols) % 8)
    return base64.b32decode(padded)


def group(text: str, size: int = 5, per_line: int = 6) -> str:
    """Split ``text`` into groups of ``size`` joined by spaces, ``per_line`` groups a line."""
    groups = [text[i : i + size] for i in range(0, len(text), size)]
    lines = [" ".join(groups[i : i + per_line]) for i in range(0, len(groups), per_line)]
    return "\n".join(lines)
