"""``tcr audit verify`` against a hostile editor of the ledger file (issue 11): an emptied or
schema-less file is not a ledger, verification never writes, SQLite's own integrity check
runs, and damaged rows or transcripts are one line with exit 3 (2 for unreadable input)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.errors import IntegrityError

from ..cli_runner import run_tcr
from .conftest import KEYS, SAFE, make_world


def _ledger(tmp_path: Path, *, checkpoint: bool = True) -> Path:
    world = make_world(tmp_path / "ledger.sqlite")
    led = world.ledger
    led.seal_bag(world.ca, "TEB-4004", ["CO3-KEY"], witness="iw-1", location=SAFE)
    if checkpoint:
        led.checkpoint(world.sa)
    led.close()
    return world.path


def _verify(path: Path, code: int) -> str:
    proc = run_tcr("audit", "verify", "--ledger", path, "--workers", "1", expect=code)
    if code:
        assert proc.stderr.count("\n") == 1, proc.stderr
        return proc.stderr
    return proc.stdout


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_an_emptied_ledger_is_not_a_ledger_and_verify_leaves_it_empty(tmp_path: Path) -> None:
    path = _ledger(tmp_path)
    path.write_bytes(b"")  # : > ledger.sqlite
    err = _verify(path, 3)
    assert "not a ledger" in err and "empty file" in err
    assert path.stat().st_size == 0


def test_a_sqlite_file_without_the_ledger_schema_is_not_a_ledger(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (x TEXT)")
    before = _snapshot(tmp_path)
    assert "not a ledger" in _verify(path, 3)
    assert _snapshot(tmp_path) == before


def test_verify_writes_nothing_to_the_ledger_file(tmp_path: Path) -> None:
    """The file's bytes are unchanged; SQLite's read-only WAL reader may leave an empty
    ``-wal`` and its ``-shm`` index beside it, never a frame of data."""
    path = _ledger(tmp_path)
    before = _snapshot(tmp_path)
    assert "verified" in _verify(path, 0)
    after = _snapshot(tmp_path)
    assert after["ledger.sqlite"] == before["ledger.sqlite"]
    wal = tmp_path / "ledger.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_deleting_all_checkpoints_fails_verify(tmp_path: Path) -> None:
    path = _ledger(tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM audit_checkpoint")
    err = _verify(path, 3)
    assert "checkpoint at event" in err and "missing" in err


def test_a_page_of_random_bytes_fails_sqlite_integrity_check(tmp_path: Path) -> None:
    """Random bytes over the page of the subjects index: no event, row or key read by the
    chain check passes through it; only SQLite's integrity check sees it."""
    path = _ledger(tmp_path)
    with sqlite3.connect(path) as conn:
        page = int(conn.execute("PRAGMA page_size").fetchone()[0])
        root = int(
            conn.execute(
                "SELECT rootpage FROM sqlite_master WHERE name = 'audit_event_subjects'"
            ).fetchone()[0]
        )
    with path.open("r+b") as f:
        f.seek((root - 1) * page)
        f.write(hashlib.shake_256(b"tcr-kit test page").digest(page))
    err = _verify(path, 3)
    assert "SQLite integrity check" in err


def test_an_edited_revoked_seq_is_one_line_with_exit_3(tmp_path: Path) -> None:
    path = _ledger(tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE audit_key SET revoked_seq = 'soon' WHERE owner = 'ca-1'")
    assert "audit_key row" in _verify(path, 3)
    with Ledger.open(path) as led, pytest.raises(IntegrityError, match="audit_key row"):
        led.checkpoint(Actor("ca-1", KEYS["ca"]))  # a writer reading that row refuses it too


def test_transcript_with_a_numeric_signature_or_deep_nesting_is_one_line(tmp_path: Path) -> None:
    path = _ledger(tmp_path)
    out = tmp_path / "t.json"
    run_tcr("audit", "export", "--ledger", path, "--output", out, expect=0)
    doc = json.loads(out.read_text())
    doc["events"][2]["signature"] = 12345
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    proc = run_tcr("audit", "verify", "--transcript", bad, expect=3)
    assert proc.stderr.count("\n") == 1 and "signature is not a string" in proc.stderr
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    proc = run_tcr("audit", "verify", "--transcript", deep, expect=2)
    assert proc.stderr.count("\n") == 1
