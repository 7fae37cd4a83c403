"""HashiCorp Vault unseal key shares: import and export.

Facts of the format (Vault's ``shamir`` package, confirmed by the vectors its own code made,
``vectors/vault-shamir-vectors.json``):

* GF(2^8) with the Rijndael polynomial x^8 + x^4 + x^3 + x + 1 (0x11B), byte by byte, with a
  random polynomial of degree t - 1 whose constant term is the secret byte.
* A share is the y bytes followed by **one x byte**. Current Vault writes x = 1..n; older
  releases drew x at random from 1..255 (both are read).
* Vault prints unseal keys in base64 (standard alphabet, padded) and in hex; when reading a
  key it tries hex first, then base64, and so does :func:`parse`.
* Nothing else: no threshold, no checksum. Vault finds out whether the combined key is right
  only when it fails to decrypt its keyring; tcr-kit cannot check it at all.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, cast

from tcr_kit.errors import InputError
from tcr_kit.secrets import SecretBuffer
from tcr_kit.sharing.errors import ForeignShareError, ShareError
from tcr_kit.sharing.formats.base import ForeignOptions, ShareFacts, TextFormat, parses
from tcr_kit.sharing.formats.common import (
    agreeing_extra_note,
    drop_repeats,
    refuse_off_polynomial,
    require_enough,
)
from tcr_kit.sharing.gf256 import RIJNDAEL_POLY, field
from tcr_kit.sharing.result import CombineResult
from tcr_kit.sharing.stream import split_small

FORMAT_NAME = "vault"
"""Name of this format in auto-detection and reports."""

MAX_SHARES = 255
"""x values are the non-zero bytes."""

Encoding = Literal["base64", "hex"]

_HEX_RE = re.compile(r"^(?:[0-9a-fA-F]{2}){2,}$")
_B64_RE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


@dataclass(frozen=True)
class VaultShare:
    """One parsed Vault share: ``index`` is the x byte, ``value`` the y bytes."""

    index: int
    value: bytes
    encoding: Encoding
    source: str
    base64_reading: tuple[int, bytes] | None = None
    """(x, y) when hex-looking text is also canonical base64 (Vault reads hex first)."""

    def __repr__(self) -> str:
        return (
            f"VaultShare(index={self.index}, length={len(self.value)}, "
            f"encoding={self.encoding!r}, source={self.source!r})"
        )


def _decode_base64(text: str) -> bytes | None:
    if not (_B64_RE.match(text) and len(text) % 4 == 0):
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(raw).decode("ascii") != text:
        return None  # non-canonical padding bits: not something Vault printed
    return raw


def _decode(text: str) -> tuple[bytes, Encoding] | None:
    text = text.strip()
    if _HEX_RE.match(text):
        return bytes.fromhex(text), "hex"
    raw = _decode_base64(text)
    return None if raw is None else (raw, "base64")


def parse(text: str, source: str) -> VaultShare:
    """Parse one Vault unseal key share (hex or base64); :class:`ShareError` if it is not."""
    if not isinstance(text, str):
        raise ShareError(source, "not a text share")
    decoded = _decode(text)
    if decoded is None:
        raise ShareError(source, "not a Vault unseal key share (expected hex or base64)")
    raw, encoding = decoded
    if len(raw) < 2:
        raise ShareError(source, "a Vault share holds at least one secret byte and the x byte")
    index = raw[-1]
    if index == 0:
        raise ShareError(source, "x byte is 0: that would be the secret itself")
    alternative = _decode_base64(text.strip()) if encoding == "hex" else None
    base64_reading = (
        (alternative[-1], alternative[:-1])
        if alternative is not None and len(alternative) >= 2 and alternative[-1]
        else None
    )
    return VaultShare(
        index=index,
        value=raw[:-1],
        encoding=encoding,
        source=source,
        base64_reading=base64_reading,
    )


def _disambiguate(
    shares: Sequence[VaultShare], encoding: Encoding | None = None
) -> list[VaultShare]:
    """Read hex-looking shares as base64 where only that gives the other shares' length.

    A short base64 share can consist of hex digits only; Vault would misread it as hex. When
    the shares that are unambiguous agree on a length, such a share is read as base64. When
    *every* share reads both ways (only short secrets: a base64 key of 44 characters is all
    hex digits with odds of about 1 in 10^20), nothing in the shares tells which reading is
    right, and a guess could give a wrong secret: ``encoding`` (how the keys were written,
    ``--vault-encoding``) decides, and without it :class:`InputError` is raised.
    """
    if shares and all(s.base64_reading is not None for s in shares):
        if encoding is None:
            names = ", ".join(s.source for s in shares)
            raise InputError(
                f"the Vault shares {names} read both as hex and as base64 (short keys): "
                "say how they were written (--vault-encoding hex or base64)"
            )
        if encoding == "hex":
            return [replace(s, base64_reading=None) for s in shares]
        return [
            replace(s, index=r[0], value=r[1], encoding="base64", base64_reading=None)
            for s in shares
            if (r := s.base64_reading) is not None
        ]
    certain = {len(s.value) for s in shares if s.base64_reading is None}
    if len(certain) != 1:
        return list(shares)
    (length,) = certain
    resolved = []
    for share in shares:
        reading = share.base64_reading
        if reading is not None and len(share.value) != length and len(reading[1]) == length:
            share = replace(
                share, index=reading[0], value=reading[1], encoding="base64", base64_reading=None
            )
        resolved.append(share)
    return resolved


NATIVE_TEXT_PREFIX = "TCRS"
"""tcr-kit's native text shares start with this (Crockford base32 is also base64-safe)."""
NATIVE_COMPACT_MAGIC_HEX = "89544352"
"""tcr-kit's native compact shares start with these bytes (``\\x89TCR``)."""


def looks_like(text: str) -> bool:
    """True if ``text`` decodes as a Vault share (hex or canonical base64, x byte non-zero).

    Auto-detection only: text carrying tcr-kit's native prefixes (``TCRS``, or hex of the
    compact magic ``89544352``) is left to the native reader even if it would decode;
    :func:`parse` still reads it when the caller names the Vault format.
    """
    stripped = text.strip()
    if stripped[:4].upper() == NATIVE_TEXT_PREFIX or stripped[:8].lower() == (
        NATIVE_COMPACT_MAGIC_HEX
    ):
        return False
    return parses(parse, text)


def split(
    secret: bytes | bytearray,
    threshold: int,
    count: int,
    *,
    encoding: Encoding = "base64",
) -> list[str]:
    """Split ``secret`` into ``count`` Vault shares (x = 1..count), any ``threshold`` recover it.

    ``encoding`` is how Vault prints unseal keys: ``base64`` (the default of ``vault operator
    init``) or ``hex``.
    """
    if not 2 <= threshold <= count:
        raise ValueError("Vault needs 2 <= threshold <= count")
    if count > MAX_SHARES:
        raise ValueError(f"at most {MAX_SHARES} shares in GF(2^8)")
    if not secret:
        raise ValueError("cannot split an empty secret")
    if encoding not in ("base64", "hex"):
        raise ValueError("encoding must be 'base64' or 'hex'")
    xs = list(range(1, count + 1))
    ys = split_small(field(RIJNDAEL_POLY), bytes(secret), xs, threshold)
    raws = [y + bytes([x]) for x, y in zip(xs, ys, strict=True)]
    if encoding == "hex":
        return [raw.hex() for raw in raws]
    return [base64.b64encode(raw).decode("ascii") for raw in raws]


def combine(
    shares: Sequence[VaultShare],
    *,
    threshold: int | None = None,
    encoding: Encoding | None = None,
) -> CombineResult:
    """Recover the secret from Vault shares.

    Like Vault, every share given is used unless ``threshold`` is passed; then too few shares
    are refused and those beyond the threshold are checked against the others. ``encoding``
    says how the keys were written; it matters only when every share reads both as hex and
    as base64 (see :func:`_disambiguate`: without it that is an :class:`InputError`).
    """
    if threshold is not None and threshold < 2:
        raise ValueError("Vault thresholds are at least 2")
    warnings: list[str] = []
    unique, rejected = drop_repeats(
        _disambiguate(shares, encoding),
        key=lambda s: s.index,
        same=lambda a, b: a.value == b.value,
        slot=lambda s: f"x = {s.index}",
    )
    require_enough(unique, threshold)
    first = unique[0]
    for share in unique[1:]:
        if len(share.value) != len(first.value):
            raise ForeignShareError(
                share.source,
                f"{len(share.value)}-byte share does not belong with "
                f"{len(first.value)}-byte {first.source}",
            )
    gf = field(RIJNDAEL_POLY)
    if threshold is None:
        base, extra = unique, []
        warnings.append(
            "Vault shares do not record their threshold: if fewer shares than the threshold "
            "were given, the result is wrong and nothing can tell."
        )
    else:
        base, extra = unique[:threshold], unique[threshold:]
    points = [(s.index, s.value) for s in base]
    culprits = [s.source for s in extra if gf.interpolate(points, at=s.index) != s.value]
    refuse_off_polynomial(culprits, (s.source for s in base), threshold)
    # Interpolate straight into a wipeable buffer (no immutable copy of the secret).
    secret = bytearray(len(first.value))
    for coefficient, (_, y) in zip(
        gf.lagrange_coefficients([x for x, _ in points], at=0), points, strict=True
    ):
        table = gf.mul_table(coefficient)
        for i, byte in enumerate(y):
            secret[i] ^= table[byte]
    if extra:
        warnings.append(agreeing_extra_note(len(extra)))
    if any(s.index > len(unique) for s in unique):
        warnings.append(
            "x values above the share count: these look like shares from an older Vault "
            "release, which drew x at random (they combine the same way)."
        )
    warnings.append(
        "Vault shares carry no checksum or digest: the secret cannot be verified here "
        "(Vault itself only finds out when unsealing fails)."
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
    # split() refuses an encoding other than base64 or hex.
    encoding = cast(Encoding, options.vault_encoding or "base64")
    return split(secret, threshold, count, encoding=encoding)


def _combine_with(
    shares: Sequence[VaultShare], options: ForeignOptions, threshold: int | None
) -> CombineResult:
    return combine(
        shares, threshold=threshold, encoding=cast("Encoding | None", options.vault_encoding)
    )


def _facts(share: VaultShare, facts: ShareFacts) -> None:
    facts.index = share.index
    facts.secret_length = len(share.value)
    facts.checksum = "none"


FORMAT: TextFormat[VaultShare] = TextFormat(
    FORMAT_NAME,
    looks_like=looks_like,
    parse=parse,
    split=_split_with,
    combine=_combine_with,
    facts=_facts,
)
"""Vault unseal key files (``<stem>.vault-NNN.txt``) as a :class:`PeerFormat`."""
