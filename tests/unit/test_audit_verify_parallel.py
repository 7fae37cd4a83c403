"""Log verification on several processes still names the smallest bad event.

The logs here are long enough (more than ``_PARALLEL_THRESHOLD`` events) for the signature
checks to go to the process pool while the chain is walked. They are signed with libsodium
(PyNaCl), the library that verifies them, and with pycryptodome's keys elsewhere in the suite.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from functools import cache

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from nacl.signing import SigningKey

from tcr_kit.audit import verify
from tcr_kit.audit.chain import AuditIntegrityError, AuditLog, StoredEvent, ensure_schema
from tcr_kit.audit.signing import (
    ECDSA_P256,
    ED25519,
    SignatureInvalid,
    SoftwareEd25519Signer,
    check_public_key,
    verify_signature,
)

EVENTS = verify._PARALLEL_THRESHOLD + verify._CHUNK + 17


class NaclSigner:
    """An Ed25519 signer on libsodium (fast enough to make thousands of events)."""

    def __init__(self) -> None:
        self._key = SigningKey(bytes(range(32)))

    @property
    def algorithm(self) -> str:
        return ED25519

    def public_key_bytes(self) -> bytes:
        return bytes(self._key.verify_key)

    def sign(self, data: bytes) -> bytes:
        return bytes(self._key.sign(data).signature)


@cache
def _events() -> tuple[StoredEvent, ...]:
    signer = NaclSigner()
    conn = sqlite3.connect(":memory:", isolation_level=None)
    ensure_schema(conn)
    log = AuditLog(conn)
    conn.execute("BEGIN")
    log.register_key(signer, "admin", signer.public_key_bytes(), "admin")
    for i in range(EVENTS - 1):
        log.append(signer, "admin", "test.step", {"i": i}, [f"bag:B{i}"])
    conn.execute("COMMIT")
    return tuple(log.events())


def _with_bad_signatures(*seqs: int) -> list[StoredEvent]:
    events = list(_events())
    for seq in seqs:
        event = events[seq - 1]
        flipped = ("0" if event.signature[0] != "0" else "1") + event.signature[1:]
        events[seq - 1] = replace(event, signature=flipped)
    return events


@pytest.mark.parametrize("workers", [1, 2])
def test_a_long_log_verifies_on_one_or_two_processes(workers: int) -> None:
    seen: list[tuple[int, int]] = []
    report = verify.verify_log(
        _events(), workers=workers, progress=lambda done, total: seen.append((done, total))
    )
    assert report.events == EVENTS
    assert seen[-1] == (EVENTS, EVENTS)


@pytest.mark.parametrize("workers", [1, 2])
def test_of_several_bad_signatures_in_different_chunks_the_smallest_is_named(
    workers: int,
) -> None:
    late, early = EVENTS - 5, verify._CHUNK + 10
    with pytest.raises(AuditIntegrityError) as info:
        verify.verify_log(_with_bad_signatures(late, early), workers=workers)
    assert info.value.seq == early
    assert "signature does not verify" in str(info.value)


def test_a_bad_signature_before_a_broken_link_is_the_one_named() -> None:
    events = _with_bad_signatures(verify._CHUNK * 2 + 1)
    cut = verify._PARALLEL_THRESHOLD + verify._CHUNK + 3
    del events[cut - 1]  # event `cut` missing: the chain breaks after the bad signature
    with pytest.raises(AuditIntegrityError) as info:
        verify.verify_log(events, workers=2)
    assert info.value.seq == verify._CHUNK * 2 + 1


def test_a_broken_link_before_any_bad_signature_is_the_one_named() -> None:
    events = _with_bad_signatures(EVENTS - 1)
    cut = verify._PARALLEL_THRESHOLD + 5
    del events[cut - 1]
    with pytest.raises(AuditIntegrityError) as info:
        verify.verify_log(events, workers=2)
    assert info.value.seq == cut
    assert "missing" in str(info.value)


def test_pycryptodome_ed25519_signatures_verify_on_libsodium() -> None:
    signer = SoftwareEd25519Signer.generate()
    signature = signer.sign(b"event")
    verify_signature(ED25519, signer.public_key_bytes(), b"event", signature)
    with pytest.raises(SignatureInvalid):
        verify_signature(ED25519, signer.public_key_bytes(), b"event", signature[:-1])
    with pytest.raises(SignatureInvalid):
        verify_signature(ED25519, signer.public_key_bytes()[:31], b"event", signature)


def test_ecdsa_p256_signatures_verify_on_openssl_and_other_curves_are_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signature = key.sign(b"custody event", ec.ECDSA(hashes.SHA256()))
    check_public_key(ECDSA_P256, spki)
    verify_signature(ECDSA_P256, spki, b"custody event", signature)
    with pytest.raises(SignatureInvalid):
        verify_signature(ECDSA_P256, spki, b"custody event!", signature)
    other = ec.generate_private_key(ec.SECP384R1()).public_key()
    p384 = other.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="P-256"):
        check_public_key(ECDSA_P256, p384)
    with pytest.raises(SignatureInvalid):
        verify_signature(ECDSA_P256, p384, b"custody event", signature)


def test_ed25519_keys_off_the_curve_or_of_small_order_are_refused() -> None:
    check_public_key(ED25519, NaclSigner().public_key_bytes())
    for bad in (bytes(32), bytes([1]) + bytes(31), b"\xff" * 32):
        with pytest.raises(ValueError, match="Ed25519"):
            check_public_key(ED25519, bad)
    with pytest.raises(ValueError, match="32 raw bytes"):
        check_public_key(ED25519, bytes(31))
