"""The HSM user PIN, derived from the activation secret.

Derivation ``hkdf-sha256-base32`` (RFC 5869 HKDF with SHA-256)::

    okm = HKDF-SHA256(IKM  = the activation secret (the bytes the shares rebuild),
                      salt = ASCII "tcr-kit hsm" || 0x00 || the native share set id (8 bytes),
                      info = UTF-8 of config [pin].info (default "tcr-kit hsm user pin v1"),
                      L    = ceil(length * 5 / 8) bytes)
    PIN = RFC 4648 base32 of okm, upper case, no padding, first ``length`` characters

The PIN is printable ASCII (A-Z, 2-7), so every PKCS#11 module accepts it, and with the
default 32 characters carries 160 bits. Binding the share set id into the salt means a
new split of the same secret (a rekey) gives a new PIN. Only the derived PIN ever reaches
the HSM; the secret itself does not.

Everything is held in wipeable buffers. python-pkcs11 takes the PIN as ``str``, which
cannot be wiped: :meth:`HsmToken.login` makes that one copy as late as possible.
"""

from __future__ import annotations

import hashlib
import hmac

from tcr_kit.secrets import SecretBuffer, wipe

SALT_PREFIX = b"tcr-kit hsm\x00"
"""Prefix of the HKDF salt; the native share set id follows it."""
_B32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _hkdf(ikm: memoryview, salt: bytes, info: bytes, length: int) -> bytearray:
    prk = bytearray(hmac.new(salt, ikm, hashlib.sha256).digest())
    out = bytearray()
    block = b""
    counter = 1
    try:
        while len(out) < length:
            block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
            out += block
            counter += 1
    finally:
        wipe(prk)
    del out[length:]
    return out


def _base32(data: bytearray, length: int) -> bytearray:
    out = bytearray()
    acc = 0
    bits = 0
    for byte in data:
        acc = ((acc << 8) | byte) & 0xFFFF
        bits += 8
        while bits >= 5 and len(out) < length:
            bits -= 5
            out.append(_B32[(acc >> bits) & 0x1F])
    acc = 0
    return out


def derive_user_pin(
    secret: SecretBuffer, set_id: bytes, *, info: str, length: int = 32
) -> SecretBuffer:
    """The HSM user PIN for ``secret`` (see the module docstring); the caller wipes it."""
    if not 16 <= length <= 64:
        raise ValueError("PIN length must be 16..64 characters")
    okm = _hkdf(secret.view(), SALT_PREFIX + set_id, info.encode("utf-8"), (length * 5 + 7) // 8)
    try:
        return SecretBuffer(_base32(okm, length))
    finally:
        wipe(okm)
