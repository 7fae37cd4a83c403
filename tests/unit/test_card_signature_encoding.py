"""The card boundary's encodings: a token's ECDSA ``r || s`` becomes DER (and nothing else
passes), and a card's P-256 key reaches the audit log as one canonical DER SPKI whatever
encoding the enrolment record holds."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tcr_kit.audit.signing import ECDSA_P256, check_public_key, signature_ok
from tcr_kit.cards.errors import CardError
from tcr_kit.cards.pkcs11_backend import ecdsa_der
from tcr_kit.cards.record import KeyRef
from tcr_kit.cards.signing import SignatureInvalid, audit_public_key, verify_signature


def _ref(der: bytes, algorithm: str = "ec-p256") -> KeyRef:
    return KeyRef(
        algorithm=algorithm,  # type: ignore[arg-type]
        public_key_der=der.hex(),
        fingerprint=hashlib.sha256(der).hexdigest(),
    )


def test_r_and_s_become_the_der_signature_the_verifier_takes() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    der = key.sign(b"event hash", ec.ECDSA(SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # what CKM_ECDSA returns
    assert ecdsa_der(raw) == der
    assert signature_ok(ECDSA_P256, public, b"event hash", ecdsa_der(raw))
    assert not signature_ok(ECDSA_P256, public, b"event hash", raw)


@pytest.mark.parametrize("length", [0, 63, 65, 72, 128])
def test_a_token_signature_that_is_not_r_and_s_is_a_card_fault(length: int) -> None:
    with pytest.raises(CardError, match=f"{length}-byte ECDSA signature"):
        ecdsa_der(bytes(length))


def test_a_compressed_point_record_reaches_the_log_as_the_uncompressed_spki() -> None:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    canonical = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    point = public.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    # The same key, its SPKI with the compressed point (33 bytes): the prefix differs in
    # the lengths only.
    compressed = bytes.fromhex("3039301306072a8648ce3d020106082a8648ce3d030107032200") + point
    assert audit_public_key(_ref(compressed)) == canonical
    check_public_key(ECDSA_P256, canonical)


def test_a_card_key_that_is_not_p256_is_refused() -> None:
    other = ec.generate_private_key(ec.SECP384R1()).public_key()
    der = other.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ValueError, match="not a P-256 public key"):
        audit_public_key(_ref(der))
    with pytest.raises(SignatureInvalid, match="is malformed"):
        verify_signature(_ref(der), b"data", b"\x30\x00")
