"""The audit log's own queries that the custody ledger uses instead of reading its tables."""

from __future__ import annotations

import sqlite3

import pytest

from tcr_kit.audit.chain import AuditLog, ensure_schema
from tcr_kit.audit.signing import SoftwareEd25519Signer, key_id
from tcr_kit.audit.verify import verify_log

ADMIN = SoftwareEd25519Signer.generate()
CA = SoftwareEd25519Signer.generate()


def _log() -> tuple[sqlite3.Connection, AuditLog]:
    conn = sqlite3.connect(":memory:")
    ensure_schema(conn)
    log = AuditLog(conn)
    log.register_key(ADMIN, "admin", ADMIN.public_key_bytes(), "admin")
    log.register_key(ADMIN, "admin", CA.public_key_bytes(), "ca-1")
    for i in range(3):
        log.append(CA, "ca-1", "test.step", {"i": i}, [f"bag:B{i}"])
    return conn, log


def test_key_registered_knows_registered_and_revoked_keys_but_not_others() -> None:
    _, log = _log()
    ca = key_id(CA.public_key_bytes())
    assert log.key_registered(ca)
    log.revoke_key(ADMIN, "admin", ca)
    assert log.key_registered(ca)
    assert not log.key_registered(key_id(SoftwareEd25519Signer.generate().public_key_bytes()))


def test_index_columns_matching_the_bodies_report_no_mismatch() -> None:
    _, log = _log()
    assert log.first_index_mismatch() is None


def test_edited_subjects_column_is_located_by_event() -> None:
    conn, log = _log()
    conn.execute("UPDATE audit_event SET subjects = '|bag:X|' WHERE seq = 4")
    conn.execute("UPDATE audit_event SET kind = 'other' WHERE seq = 5")
    assert log.first_index_mismatch() == 4


def test_key_table_agrees_with_what_verification_established() -> None:
    _, log = _log()
    report = verify_log(log.events(), log.checkpoints())
    assert log.first_key_mismatch(report.keys) is None


def test_edited_key_owner_is_named_by_key_id() -> None:
    conn, log = _log()
    report = verify_log(log.events(), log.checkpoints())
    ca = key_id(CA.public_key_bytes())
    conn.execute("UPDATE audit_key SET owner = 'admin' WHERE key_id = ?", (ca,))
    assert log.first_key_mismatch(report.keys) == ca


def test_deleted_key_row_is_named_by_key_id() -> None:
    conn, log = _log()
    report = verify_log(log.events(), log.checkpoints())
    admin = key_id(ADMIN.public_key_bytes())
    conn.execute("DELETE FROM audit_key WHERE key_id = ?", (admin,))
    assert log.first_key_mismatch(report.keys) == admin


def test_one_verification_function_checks_ecdsa_p256_and_names_the_key() -> None:
    from Crypto.Hash import SHA256
    from Crypto.PublicKey import ECC
    from Crypto.Signature import DSS

    from tcr_kit.audit.signing import ECDSA_P256, SignatureInvalid, verify_signature

    key = ECC.generate(curve="P-256")
    der = key.public_key().export_key(format="DER")
    sig = DSS.new(key, "fips-186-3", encoding="der").sign(SHA256.new(b"zone"))
    verify_signature(ECDSA_P256, der, b"zone", sig)
    with pytest.raises(SignatureInvalid, match="under key ksk-demo"):
        verify_signature(ECDSA_P256, der, b"other zone", sig, key_name="ksk-demo")
    with pytest.raises(SignatureInvalid, match=f"under key {key_id(b'not a key')}"):
        verify_signature(ECDSA_P256, b"not a key", b"zone", sig)
