"""The card layer's pure parts: records, PIN rules, envelopes, share preparation."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tcr_kit.cards.base import PinStatus, check_new_pin, guard_pin_attempt
from tcr_kit.cards.envelope import seal, unseal
from tcr_kit.cards.errors import BadPin, CredentialCorrupt, LastTryRefused, PinBlocked
from tcr_kit.cards.record import (
    CardIdentity,
    EnrolmentRecord,
    ShareRef,
    TcrRef,
    load_record,
    write_record,
)
from tcr_kit.cards.shareinfo import prepare_share
from tcr_kit.errors import ExitCode, FileExistsRefused, InputError
from tcr_kit.secrets import SecretBuffer
from tcr_kit.sharing.native import split_bytes


def _record(**over: object) -> EnrolmentRecord:
    fields: dict[str, object] = {
        "profile": "tcr-iso7816-v1",
        "enrolment_id": "00" * 16,
        "card": CardIdentity(backend="pcsc", serial="0A1B", atr="3B 95"),
        "tcr": TcrRef(name="Ann", id="tcr-1"),
        "share": ShareRef(format="opaque", digest="ab" * 32, length=10),
        "enrolled_at": datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
    }
    fields.update(over)
    return EnrolmentRecord(**fields)  # type: ignore[arg-type]


def test_record_round_trips_through_json_with_version_marker(tmp_path: Path) -> None:
    rec = _record()
    path = tmp_path / "r.json"
    write_record(rec, path)
    data = json.loads(path.read_text())
    assert data["format"] == "tcr-kit.card-enrolment" and data["version"] == 1
    assert data["enrolled_at"].endswith("Z")
    assert load_record(path) == rec
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_record_is_never_overwritten_without_force(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_record(_record(), path)
    with pytest.raises(FileExistsRefused):
        write_record(_record(enrolment_id="11" * 16), path)
    write_record(_record(enrolment_id="11" * 16), path, force=True)
    assert load_record(path).enrolment_id == "11" * 16


def test_record_rejects_extra_fields_naive_or_non_utc_times_and_bad_profiles() -> None:
    with pytest.raises(TypeError):  # not a field: caller misuse
        _record(extra_field=1)
    with pytest.raises(ValueError, match="extra_field: extra field not permitted"):
        EnrolmentRecord.from_json(json.dumps({**_record().to_dict(), "extra_field": 1}))
    with pytest.raises(ValueError):
        _record(enrolled_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        _record(enrolled_at=datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2))))
    with pytest.raises(ValueError):
        _record(profile="tcr-pkcs11-v1")
    with pytest.raises(ValueError):
        _record(card=CardIdentity(backend="pcsc", serial="0A1B"))
    with pytest.raises(ValueError):
        ShareRef(format="tcr-native", digest="ab" * 32, length=3)
    with pytest.raises(ValueError):
        EnrolmentRecord.from_json(json.dumps({**_record().to_dict(), "version": 2}))


def test_loading_a_malformed_record_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"format": "tcr-kit.card-enrolment", "version": 9}')
    with pytest.raises(InputError) as info:
        load_record(path)
    assert info.value.exit_code == ExitCode.USAGE


def test_last_try_is_refused_unless_allowed_and_blocked_always() -> None:
    guard_pin_attempt(PinStatus(tries_left=2), allow_last_try=False)
    with pytest.raises(LastTryRefused):
        guard_pin_attempt(PinStatus(tries_left=1), allow_last_try=False)
    with pytest.raises(LastTryRefused):
        guard_pin_attempt(PinStatus(tries_left=None, final_try=True), allow_last_try=False)
    guard_pin_attempt(PinStatus(tries_left=1), allow_last_try=True)
    with pytest.raises(PinBlocked):
        guard_pin_attempt(PinStatus(tries_left=0, blocked=True), allow_last_try=True)
    assert "does not report" in PinStatus(tries_left=None).describe()


def test_new_pin_rules() -> None:
    check_new_pin(SecretBuffer(b"123456"))
    for bad in (b"12345", b"x" * 17, b"12345\x00"):
        with pytest.raises(BadPin):
            check_new_pin(SecretBuffer(bad))


def test_envelope_detects_tampering_and_wrong_context() -> None:
    key = bytes(range(32))
    blob = seal(key, b"share bytes", b"header")
    with unseal(key, blob, b"header", "t") as out:
        assert bytes(out.view()) == b"share bytes"
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(CredentialCorrupt):
        unseal(key, tampered, b"header", "t")
    with pytest.raises(CredentialCorrupt):
        unseal(key, blob, b"other header", "t")


def test_prepare_share_canonicalises_native_shares_and_describes_opaque_ones() -> None:
    share = split_bytes(b"s" * 16, 2, 3, label="lbl")[2]
    compact = prepare_share(share.encode_compact())
    text = prepare_share(share.encode_text().encode())
    assert compact == text
    assert compact.ref.index == 3 and compact.ref.set_id == share.set_id_hex
    assert compact.ref.digest == share.digest().hex()
    opaque = prepare_share(b"anything")
    assert opaque.ref.format == "opaque" and opaque.ref.set_id is None
    with pytest.raises(InputError):
        prepare_share(b"")
    with pytest.raises(InputError):
        prepare_share(b"x" * 5000)


def test_verify_signature_handles_ecdsa_p256_keys_from_tokens_without_ed25519() -> None:
    import hashlib

    from Crypto.Hash import SHA256
    from Crypto.PublicKey import ECC
    from Crypto.Signature import DSS

    from tcr_kit.cards.record import KeyRef
    from tcr_kit.cards.signing import SignatureInvalid, verify_signature

    key = ECC.generate(curve="P-256")
    der = key.public_key().export_key(format="DER")
    ref = KeyRef(
        algorithm="ec-p256", public_key_der=der.hex(), fingerprint=hashlib.sha256(der).hexdigest()
    )
    sig = DSS.new(key, "fips-186-3", encoding="der").sign(SHA256.new(b"msg"))
    verify_signature(ref, b"msg", sig)
    with pytest.raises(SignatureInvalid):
        verify_signature(ref, b"other", sig)
    assert ref.public_key_raw()[0] == 4 and len(ref.public_key_raw()) == 65
