from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcr_kit.audit.chain import AuditIntegrityError, AuditLog, ensure_schema
from tcr_kit.audit.signing import SignatureInvalid, SoftwareEd25519Signer, verify_signature
from tcr_kit.audit.transcript import build_transcript, verify_transcript, write_transcript
from tcr_kit.audit.verify import verify_log
from tcr_kit.errors import FileExistsRefused, InputError

ADMIN = SoftwareEd25519Signer.generate()
CA = SoftwareEd25519Signer.generate()


def _log(n: int = 5) -> tuple[sqlite3.Connection, AuditLog]:
    conn = sqlite3.connect(":memory:")
    ensure_schema(conn)
    log = AuditLog(conn)
    log.register_key(ADMIN, "admin", ADMIN.public_key_bytes(), "admin")
    log.register_key(ADMIN, "admin", CA.public_key_bytes(), "ca-1")
    for i in range(n):
        log.append(CA, "ca-1", "test.step", {"i": i}, [f"bag:B{i}"])
    return conn, log


def test_fresh_log_verifies_and_reports_head() -> None:
    _, log = _log()
    report = verify_log(log.events(), log.checkpoints())
    assert report.events == 7
    assert report.head == log.head()[1]


def test_append_refuses_unregistered_key_and_wrong_actor() -> None:
    _, log = _log(0)
    with pytest.raises(InputError, match="not registered"):
        log.append(SoftwareEd25519Signer.generate(), "x", "k", {})
    with pytest.raises(InputError, match="belongs to ca-1"):
        log.append(CA, "admin", "k", {})


def test_first_event_must_register_its_own_key() -> None:
    conn = sqlite3.connect(":memory:")
    ensure_schema(conn)
    with pytest.raises(InputError):
        AuditLog(conn).register_key(ADMIN, "admin", CA.public_key_bytes(), "ca-1")


def test_edited_payload_is_located() -> None:
    conn, log = _log()
    body = conn.execute("SELECT body FROM audit_event WHERE seq = 4").fetchone()[0]
    conn.execute(
        "UPDATE audit_event SET body = ? WHERE seq = 4", (body.replace(b'"i":1', b'"i":9'),)
    )
    with pytest.raises(AuditIntegrityError) as info:
        verify_log(log.events())
    assert info.value.seq == 4


def test_signature_verification_raises_on_wrong_message() -> None:
    sig = CA.sign(b"m")
    verify_signature("ed25519", CA.public_key_bytes(), b"m", sig)
    with pytest.raises(SignatureInvalid):
        verify_signature("ed25519", CA.public_key_bytes(), b"n", sig)


def test_checkpoint_detects_truncated_tail(tmp_path: Path) -> None:
    conn, log = _log()
    log.checkpoint(ADMIN)  # event 8 announces the checkpoint at event 8
    conn.execute("DELETE FROM audit_event WHERE seq = 8")
    with pytest.raises(AuditIntegrityError, match="truncated"):
        verify_log(log.events(), log.checkpoints())


def test_transcript_round_trips_offline_and_refuses_overwrite(tmp_path: Path) -> None:
    _, log = _log()
    log.checkpoint(ADMIN)
    out = tmp_path / "t.json"
    write_transcript(build_transcript(log), out)
    result = verify_transcript(out)
    assert result.report.events == 8  # 7 and the checkpoint's own event
    assert result.report.checkpoints == 1
    with pytest.raises(FileExistsRefused):
        write_transcript(build_transcript(log), out)


def test_key_file_is_0600_exclusive_and_passphrase_protected(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    ADMIN.save(path, passphrase=b"correct horse")
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsRefused):
        ADMIN.save(path)
    with pytest.raises(InputError):
        SoftwareEd25519Signer.load(path)
    with pytest.raises(InputError):
        SoftwareEd25519Signer.load(path, passphrase=b"wrong")
    loaded = SoftwareEd25519Signer.load(path, passphrase=b"correct horse")
    assert loaded.public_key_bytes() == ADMIN.public_key_bytes()
    assert "PRIVATE" not in repr(loaded)


def test_transcript_with_an_edited_event_is_refused_naming_it(tmp_path: Path) -> None:
    import json

    _, log = _log()
    out = tmp_path / "t.json"
    write_transcript(build_transcript(log), out)
    doc = json.loads(out.read_text())
    doc["events"][4]["body"] = doc["events"][4]["body"].replace('"i":2', '"i":7')
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    with pytest.raises(AuditIntegrityError) as info:
        verify_transcript(edited)
    assert info.value.seq == 5


def test_transcript_with_a_dropped_event_is_refused(tmp_path: Path) -> None:
    import json

    _, log = _log()
    out = tmp_path / "t.json"
    write_transcript(build_transcript(log), out)
    doc = json.loads(out.read_text())
    del doc["events"][2]
    dropped = tmp_path / "dropped.json"
    dropped.write_text(json.dumps(doc))
    with pytest.raises(AuditIntegrityError, match="event 3: missing"):
        verify_transcript(dropped)


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.integers() | st.text(max_size=8),
        lambda c: (
            st.lists(c, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "format",
                        "version",
                        "events",
                        "checkpoints",
                        "selection",
                        "head",
                        "seq",
                        "body",
                    ]
                ),
                c,
                max_size=4,
            )
        ),
        max_leaves=12,
    )
)
def test_transcript_reader_refuses_garbage_with_a_tcr_error(doc: object) -> None:
    import json
    import tempfile

    from tcr_kit.errors import TcrError

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.json"
        path.write_text(json.dumps(doc))
        with pytest.raises(TcrError):
            verify_transcript(path)


def test_revoked_key_cannot_append_and_a_forged_later_event_is_located() -> None:
    _, log = _log(1)
    (kid,) = [k for k in (log.key_for(CA),) if k is not None]
    log.revoke_key(ADMIN, "admin", kid.key_id)
    with pytest.raises(InputError, match="revoked"):
        log.append(CA, "ca-1", "test.step", {})
    verify_log(log.events())
    # Someone still holding the revoked key writes behind the tool's back:
    rogue = log._append(CA, "ca-1", "test.step", {"i": 99}, [], None)
    with pytest.raises(AuditIntegrityError) as info:
        verify_log(log.events())
    assert info.value.seq == rogue.seq
    assert "revoked" in str(info.value)


def test_a_key_cannot_revoke_itself() -> None:
    _, log = _log(0)
    record = log.key_for(CA)
    assert record is not None
    with pytest.raises(InputError):
        log.revoke_key(CA, "ca-1", record.key_id)
