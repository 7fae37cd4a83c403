"""The TCR's signing key: sign on the card, verify anywhere with the recorded public key.

Signatures are ECDSA P-256 over SHA-256 of the message, DER-encoded (RFC 3279), the key
identified by the SHA-256 fingerprint of its DER SubjectPublicKeyInfo. Only the PKCS#11
profile holds a signing key.
"""

from __future__ import annotations

from Crypto.Hash import SHA256
from Crypto.PublicKey import ECC
from Crypto.Signature import DSS

from tcr_kit.cards.base import Card
from tcr_kit.cards.errors import NotEnrolled
from tcr_kit.cards.record import KeyRef
from tcr_kit.errors import IntegrityError
from tcr_kit.secrets import SecretBuffer


class SignatureInvalid(IntegrityError):
    """A signature does not verify under the given public key."""


def signing_key(card: Card) -> KeyRef:
    """The card's signing public key (no PIN needed)."""
    from tcr_kit.cards.pkcs11_backend import Pkcs11Card

    if not isinstance(card, Pkcs11Card):
        raise NotEnrolled("only PKCS#11 cards hold a signing key (profile tcr-pkcs11-v1)")
    return card.signing_public_key()


def sign_with_card(card: Card, pin: SecretBuffer, data: bytes) -> bytes:
    """Sign ``data`` with the card's signing key; returns a DER ECDSA signature."""
    from tcr_kit.cards.pkcs11_backend import Pkcs11Card

    if not isinstance(card, Pkcs11Card):
        raise NotEnrolled("only PKCS#11 cards hold a signing key (profile tcr-pkcs11-v1)")
    return card.sign(pin, data)


def verify_signature(key: KeyRef, data: bytes, signature: bytes) -> None:
    """Raise :class:`SignatureInvalid` unless ``signature`` over ``data`` verifies under ``key``."""
    public = ECC.import_key(bytes.fromhex(key.public_key_der))
    verifier = DSS.new(public, "fips-186-3", encoding="der")
    try:
        verifier.verify(SHA256.new(data), signature)
    except ValueError:
        raise SignatureInvalid(f"signature does not verify under key {key.fingerprint}") from None
