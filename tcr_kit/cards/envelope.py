"""AES-256-GCM envelopes for a share on a card, and the key derivations both profiles use.

pycryptodome is imported by the functions that use it: a PC/SC card's backend imports this
module, and ``tcr card check`` without a PIN never seals or opens anything.
"""

from __future__ import annotations

from tcr_kit.cards.errors import CredentialCorrupt
from tcr_kit.secrets import SecretBuffer, random_bytes

NONCE_LEN = 12
"""GCM nonce length."""
TAG_LEN = 16
"""GCM tag length."""
SCRYPT_N = 2**15
"""scrypt cost for PIN-derived keys (about 0.1 s on a laptop)."""


def seal(key: bytes | bytearray, plaintext: bytes | bytearray | memoryview, aad: bytes) -> bytes:
    """``nonce || tag || ciphertext`` under ``key`` (32 bytes)."""
    from Crypto.Cipher import AES

    nonce = random_bytes(NONCE_LEN)
    cipher = AES.new(bytes(key), AES.MODE_GCM, nonce=nonce, mac_len=TAG_LEN)
    cipher.update(aad)
    ct, tag = cipher.encrypt_and_digest(bytes(plaintext))
    return nonce + tag + ct


def unseal(key: bytes | bytearray, blob: bytes, aad: bytes, what: str) -> SecretBuffer:
    """Open :func:`seal`'s output; :class:`CredentialCorrupt` if it does not authenticate."""
    from Crypto.Cipher import AES

    if len(blob) < NONCE_LEN + TAG_LEN:
        raise CredentialCorrupt(f"{what}: truncated")
    nonce, tag, ct = blob[:NONCE_LEN], blob[NONCE_LEN : NONCE_LEN + TAG_LEN], blob[28:]
    cipher = AES.new(bytes(key), AES.MODE_GCM, nonce=nonce, mac_len=TAG_LEN)
    cipher.update(aad)
    out = bytearray(len(ct))
    try:
        cipher.decrypt_and_verify(ct, tag, output=out)
    except ValueError:
        raise CredentialCorrupt(f"{what}: does not authenticate (damaged or not ours)") from None
    return SecretBuffer.adopt(out)


def hkdf(secret: bytes | bytearray, salt: bytes, info: bytes) -> bytearray:
    """HKDF-SHA256 to 32 bytes."""
    from Crypto.Hash import SHA256
    from Crypto.Protocol.KDF import HKDF

    out = HKDF(bytes(secret), 32, salt, SHA256, context=info)
    assert isinstance(out, bytes)  # noqa: S101 - one key requested
    return bytearray(out)


def pin_key(pin: SecretBuffer, salt: bytes, card_random: bytes, info: bytes) -> bytearray:
    """A key from a PIN: scrypt(PIN, salt), then HKDF with the card-held random."""
    from Crypto.Protocol.KDF import scrypt

    stretched = scrypt(bytes(pin.view()), salt, 32, N=SCRYPT_N, r=8, p=1)
    assert isinstance(stretched, bytes)  # noqa: S101 - one key requested
    return hkdf(stretched + card_random, salt, info)
