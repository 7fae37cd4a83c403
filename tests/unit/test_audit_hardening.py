"""The audit log and transcripts against a hostile editor (issue 11): forked events spliced
into the chain, deleted checkpoints, and transcript fields that no signature covers."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tcr_kit.audit.chain import AuditIntegrityError, AuditLog, ensure_schema
from tcr_kit.audit.selection import EventSelection
from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.audit.transcript import build_transcript, verify_transcript, write_transcript
from tcr_kit.audit.verify import verify_log
from tcr_kit.errors import InputError, IntegrityError

ADMIN = SoftwareEd25519Signer.generate()
CA = SoftwareEd25519Signer.generate()
OLD = SoftwareEd25519Signer.generate()


def _log(n: int = 4) -> tuple[sqlite3.Connection, AuditLog]:
    conn = sqlite3.connect(":memory:")
    ensure_schema(conn)
    log = AuditLog(conn)
    log.register_key(ADMIN, "admin", ADMIN.public_key_bytes(), "admin")
    log.register_key(ADMIN, "admin", CA.public_key_bytes(), "ca-1")
    for i in range(n):
        log.append(CA, "ca-1", "test.step", {"ceremony": 7, "i": i}, ["ceremony:7"])
    return conn, log


def _copy(conn: sqlite3.Connection) -> tuple[sqlite3.Connection, AuditLog]:
    conn.commit()
    other = sqlite3.connect(":memory:")
    conn.backup(other)
    return other, AuditLog(other)


def test_a_validly_signed_event_from_a_forked_log_is_caught_by_its_prev_alone() -> None:
    conn, log = _log(3)  # events 1..5
    fork_conn, fork = _copy(conn)
    log.append(CA, "ca-1", "test.step", {"branch": "main"})  # 6
    log.append(CA, "ca-1", "test.step", {"branch": "main"})  # 7
    fork.append(CA, "ca-1", "test.step", {"branch": "fork"})  # 6'
    spliced = fork.append(CA, "ca-1", "test.step", {"branch": "fork"})  # 7', prev = hash 6'
    # Right seq, its own correct hash, a valid signature by a registered key: only its
    # prev (the hash of 6', not of 6) tells it does not belong here.
    conn.execute(
        "UPDATE audit_event SET body = ?, hash = ?, signature = ? WHERE seq = 7",
        (spliced.body, spliced.hash, spliced.signature),
    )
    with pytest.raises(AuditIntegrityError) as info:
        verify_log(log.events(), log.checkpoints(), workers=1)
    assert info.value.seq == 7
    assert "does not follow event 6" in info.value.reason
    verify_log(fork.events(), fork.checkpoints(), workers=1)  # it is valid where it came from
    fork_conn.close()


def test_deleting_every_checkpoint_is_detected_by_the_events_that_announce_them() -> None:
    conn, log = _log()
    log.checkpoint(CA)
    log.append(CA, "ca-1", "test.step", {"after": True})
    log.checkpoint(ADMIN)
    assert verify_log(log.events(), log.checkpoints()).checkpoints == 2
    conn.execute("DELETE FROM audit_checkpoint")
    with pytest.raises(AuditIntegrityError, match="checkpoint at event 7: announced") as info:
        verify_log(log.events(), log.checkpoints())
    assert info.value.seq == 7


def test_a_log_whose_checkpoints_predate_checkpoint_events_still_verifies() -> None:
    """Ledgers written before checkpoints were events: their checkpoints still verify."""
    from tcr_kit.audit.canonical import canonical_bytes
    from tcr_kit.audit.chain import checkpoint_hash

    conn, log = _log()
    seq, head = log.head()
    body = canonical_bytes(
        {"head": head, "key_id": _kid(CA), "seq": seq, "time": "2026-01-01T00:00:00.000000Z"}
        | {"v": 1}
    )
    conn.execute(
        "INSERT INTO audit_checkpoint (seq, body, signature) VALUES (?, ?, ?)",
        (seq, body, CA.sign(checkpoint_hash(body)).hex()),
    )
    assert verify_log(log.events(), log.checkpoints()).checkpoints == 1


def _kid(signer: SoftwareEd25519Signer) -> str:
    from tcr_kit.audit.signing import key_id

    return key_id(signer.public_key_bytes())


@pytest.fixture
def transcript(tmp_path: Path) -> dict[str, Any]:
    _, log = _log()
    log.register_key(ADMIN, "admin", OLD.public_key_bytes(), "ca-1")
    log.revoke_key(ADMIN, "admin", _kid(OLD))
    log.append(CA, "ca-1", "test.step", {"ceremony": 7, "i": 9}, ["ceremony:7"])
    log.checkpoint(CA)
    log.append(CA, "ca-1", "test.step", {"ceremony": 7, "i": 10}, ["ceremony:7"])
    out = tmp_path / "t.json"
    write_transcript(build_transcript(log, EventSelection(ceremony=7)), out)
    assert verify_transcript(out).selection == [3, 4, 5, 6, 9, 11]
    doc = json.loads(out.read_text())
    assert isinstance(doc, dict)
    return doc


def _verify_edited(tmp_path: Path, doc: object) -> None:
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc))
    verify_transcript(path)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda d: d["selection"]["seqs"].remove(4), id="selection-seqs"),
        pytest.param(lambda d: d["selection"]["seqs"].append(10), id="selection-seqs-added"),
        pytest.param(
            lambda d: d["selection"].update(description="ceremony 8"), id="selection-description"
        ),
        pytest.param(
            lambda d: d["selection"]["criteria"].update(ceremony=8), id="selection-criteria"
        ),
        pytest.param(
            lambda d: next(k for k in d["keys"] if k["revoked_at_event"]).update(
                revoked_at_event=None
            ),
            id="keys-revoked-at-event",
        ),
        pytest.param(
            lambda d: d["keys"][1].update(registered_at_event=1), id="keys-registered-at-event"
        ),
        pytest.param(lambda d: d["keys"][1].update(algorithm="x"), id="keys-algorithm"),
        pytest.param(lambda d: d["keys"].pop(), id="keys-dropped"),
        pytest.param(lambda d: d["keys"][0].update(note="trusted"), id="keys-extra-field"),
        pytest.param(lambda d: d["checkpoints"].clear(), id="checkpoints-dropped"),
        pytest.param(lambda d: d["head"].update(words="able able"), id="head-words"),
        pytest.param(
            lambda d: d.update(exported_at="2000-01-01T00:00:00.000000Z"), id="exported-before"
        ),
        pytest.param(lambda d: d.update(comment="approved by all"), id="unknown-field"),
        pytest.param(lambda d: d["events"][3].update(signature=12), id="signature-number"),
        pytest.param(lambda d: d["events"][3].update(seq="4"), id="seq-string"),
        pytest.param(lambda d: d["checkpoints"][0].update(body=["x"]), id="checkpoint-body-list"),
    ],
)
def test_every_transcript_field_is_checked_or_signed(
    transcript: dict[str, Any], tmp_path: Path, edit: Any
) -> None:
    edit(transcript)
    with pytest.raises(IntegrityError):
        _verify_edited(tmp_path, transcript)


def test_deeply_nested_or_non_object_transcripts_are_input_errors(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match=r"not a tcr-kit audit transcript|nested too deeply"):
        verify_transcript(path)
    path.write_text(
        '{"format": "tcr-kit/audit-transcript", "version": 1, "events": ' + "[" * 100_000
    )
    with pytest.raises(InputError, match=r"nested too deeply|not JSON"):
        verify_transcript(path)
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(InputError, match="not JSON"):
        verify_transcript(path)
