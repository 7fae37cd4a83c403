"""The TCR's signing key: sign on the card, verify anywhere with the recorded public key.

Enrolment generates the signing key on the token as Ed25519 where the token supports it
(SoftHSM2 does; the audit log's algorithm) and otherwise as ECDSA P-256. The key is named
by the SHA-256 fingerprint of its DER SubjectPublicKeyInfo in the enrolment record.

* Ed25519: RFC 8032 signature (64 bytes) of the message.
* ECDSA P-256: DER signature (RFC 3279) over SHA-256 of the message. The token returns
  ``r || s``; the backend converts it to DER before it leaves the card layer.

:class:`CardSigner` has the shape of :class:`tcr_kit.audit.signing.Signer` (``algorithm``,
``public_key_bytes()``, ``sign(data)``), so the custody ledger and audit log can sign with a
card exactly as with a software key. Its public key is in the audit log's form
(:func:`audit_public_key`): 32 raw bytes for Ed25519, DER SubjectPublicKeyInfo for P-256,
so the bytes a roster registers are the bytes every verifier loads and ``key_id`` hashes.
Only the PKCS#11 profile holds a signing key (the PC/SC profile's card is files only).
A failed verification raises the audit log's :class:`SignatureInvalid` (exit 3).
"""

from __future__ import annotations

from types import TracebackType

from tcr_kit.audit.signing import SignatureInvalid
from tcr_kit.audit.signing import verify_signature as audit_verify
from tcr_kit.cards.base import Card
from tcr_kit.cards.errors import CredentialCorrupt, NotEnrolled
from tcr_kit.cards.record import KeyRef
from tcr_kit.secrets import SecretBuffer

__all__ = [
    "CardSigner",
    "SignatureInvalid",
    "audit_public_key",
    "sign_with_card",
    "signing_key",
    "verify_signature",
]

ALGORITHM_NAMES = {"ed25519": "ed25519", "ec-p256": "ecdsa-p256-sha256"}
"""Record algorithm -> the name a :class:`CardSigner` reports (the audit log's naming)."""


def _pkcs11(card: Card) -> object:
    from tcr_kit.cards.pkcs11_backend import Pkcs11Card

    if not isinstance(card, Pkcs11Card):
        raise NotEnrolled("only PKCS#11 cards hold a signing key (profile tcr-pkcs11-v1)")
    return card


def signing_key(card: Card) -> KeyRef:
    """The card's signing public key (no PIN needed)."""
    from tcr_kit.cards.pkcs11_backend import Pkcs11Card

    c = _pkcs11(card)
    assert isinstance(c, Pkcs11Card)  # noqa: S101 - checked by _pkcs11
    return c.signing_public_key()


def sign_with_card(card: Card, pin: SecretBuffer, data: bytes) -> bytes:
    """Sign ``data`` with the card's signing key (see the module doc for the formats)."""
    from tcr_kit.cards.pkcs11_backend import Pkcs11Card

    c = _pkcs11(card)
    assert isinstance(c, Pkcs11Card)  # noqa: S101 - checked by _pkcs11
    return c.sign(pin, data)


def audit_public_key(key: KeyRef) -> bytes:
    """``key`` as the audit log registers it: Ed25519 as its 32 raw bytes, P-256 as a DER
    SubjectPublicKeyInfo with the uncompressed point (re-encoded by pyca/cryptography, so
    one key has one encoding and one ``key_id`` whatever the token's encoder wrote).

    ``ValueError`` for a key that is not what its algorithm says."""
    if key.algorithm == "ed25519":
        raw = key.public_key_raw()
        if len(raw) != 32:
            raise ValueError("an Ed25519 card key is 32 bytes")
        return raw
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_der_public_key,
    )

    loaded = load_der_public_key(bytes.fromhex(key.public_key_der))
    if not isinstance(loaded, ec.EllipticCurvePublicKey) or not isinstance(
        loaded.curve, ec.SECP256R1
    ):
        raise ValueError("the card's ec-p256 key is not a P-256 public key")
    return loaded.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def verify_signature(key: KeyRef, data: bytes, signature: bytes) -> None:
    """Raise :class:`SignatureInvalid` unless ``signature`` over ``data`` verifies under ``key``."""
    try:
        public = audit_public_key(key)
    except ValueError:
        raise SignatureInvalid(f"key {key.fingerprint} is malformed") from None
    audit_verify(ALGORITHM_NAMES[key.algorithm], public, data, signature, key_name=key.fingerprint)


class CardSigner:
    """A card's signing key as a signer object; holds the PIN until :meth:`close`.

    Each :meth:`sign` logs in to the token, signs and logs out. The PIN is kept in a
    :class:`SecretBuffer` that :meth:`close` (or leaving ``with``) wipes.
    """

    def __init__(self, card: Card, pin: SecretBuffer) -> None:
        self._card = card
        self._key = signing_key(card)
        try:
            self._public = audit_public_key(self._key)
        except ValueError as exc:
            raise CredentialCorrupt(f"the card's signing key: {exc}") from None
        self._pin = SecretBuffer(bytearray(pin.view()))

    @property
    def algorithm(self) -> str:
        return ALGORITHM_NAMES[self._key.algorithm]

    @property
    def key(self) -> KeyRef:
        return self._key

    def public_key_bytes(self) -> bytes:
        """The key as the audit log registers it: 32 raw bytes (Ed25519) or DER
        SubjectPublicKeyInfo (P-256); see :func:`audit_public_key`."""
        return self._public

    def sign(self, data: bytes) -> bytes:
        return sign_with_card(self._card, self._pin, data)

    def close(self) -> None:
        self._pin.wipe()

    def __enter__(self) -> CardSigner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<CardSigner {self.algorithm} key {self._key.fingerprint[:16]}>"
