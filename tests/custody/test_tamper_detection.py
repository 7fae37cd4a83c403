"""Every change made to the SQLite file behind the tool's back is detected and located."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tcr_kit.audit.chain import EVENT_DOMAIN, AuditIntegrityError
from tcr_kit.custody.ledger import Ledger, LedgerIntegrityError
from tcr_kit.errors import IntegrityError

from .conftest import SAFE, make_world

Tamper = Callable[[sqlite3.Connection], None]


def _populated(tmp_path: Path) -> tuple[Path, int]:
    world = make_world(tmp_path / "ledger.sqlite")
    led = world.ledger
    led.seal_bag(world.ca, "TEB-3003", ["CO3-KEY"], witness="iw-1", location=SAFE)
    led.store_bag(world.ca, "TEB-3003", location=SAFE)
    led.checkpoint(world.sa)
    n = led.audit.count()
    led.verify()
    led.close()
    return world.path, n


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(str(path), isolation_level=None)


def _verify(path: Path) -> None:
    with Ledger.open(path) as led:
        led.verify(workers=1)


def _body(conn: sqlite3.Connection, seq: int) -> bytes:
    return bytes(conn.execute("SELECT body FROM audit_event WHERE seq = ?", (seq,)).fetchone()[0])


def test_untouched_ledger_verifies(tmp_path: Path) -> None:
    path, _ = _populated(tmp_path)
    _verify(path)


def test_edited_event_body_is_located(tmp_path: Path) -> None:
    path, _ = _populated(tmp_path)
    with _raw(path) as conn:
        body = _body(conn, 4).replace(b'"name":"CA-1"', b'"name":"CA-9"')
        assert body != _body(conn, 4)
        conn.execute("UPDATE audit_event SET body = ? WHERE seq = 4", (body,))
    with pytest.raises(AuditIntegrityError) as info:
        _verify(path)
    assert info.value.seq == 4
    assert "recorded hash" in str(info.value)


def test_edited_event_with_recomputed_hash_fails_its_signature(tmp_path: Path) -> None:
    path, _ = _populated(tmp_path)
    with _raw(path) as conn:
        body = _body(conn, 6).replace(b'"name":"IW-1"', b'"name":"IW-X"')
        assert body != _body(conn, 6)
        digest = hashlib.sha256(EVENT_DOMAIN + body).hexdigest()
        conn.execute("UPDATE audit_event SET body = ?, hash = ? WHERE seq = 6", (body, digest))
    with pytest.raises(AuditIntegrityError) as info:
        _verify(path)
    assert info.value.seq == 6
    assert "signature" in str(info.value)


def test_deleted_middle_event_is_located(tmp_path: Path) -> None:
    path, _ = _populated(tmp_path)
    with _raw(path) as conn:
        conn.execute("DELETE FROM audit_event WHERE seq = 5")
    with pytest.raises(AuditIntegrityError, match="event 5: missing"):
        _verify(path)


def test_deleted_last_event_is_caught_by_the_checkpoint(tmp_path: Path) -> None:
    path, n = _populated(tmp_path)
    with _raw(path) as conn:
        conn.execute("DELETE FROM audit_event WHERE seq = ?", (n,))
    with pytest.raises(IntegrityError, match=f"{n}"):
        _verify(path)


def test_deleted_last_event_without_checkpoint_is_caught_by_the_rows_it_wrote(
    tmp_path: Path,
) -> None:
    path, n = _populated(tmp_path)
    with _raw(path) as conn:  # event n is the checkpoint's; n - 1 stored the bag
        conn.execute("DELETE FROM audit_checkpoint")
        conn.execute("DELETE FROM audit_event WHERE seq >= ?", (n - 1,))
    with pytest.raises(LedgerIntegrityError, match="bag/TEB-3003"):
        _verify(path)


def test_inserted_event_is_located(tmp_path: Path) -> None:
    path, n = _populated(tmp_path)
    with _raw(path) as conn:
        row = conn.execute(
            "SELECT body, hash, signature, kind, subjects FROM audit_event WHERE seq = 3"
        ).fetchone()
        conn.execute(
            "INSERT INTO audit_event (seq, body, hash, signature, kind, subjects) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (n + 1, *row),
        )
    with pytest.raises(AuditIntegrityError) as info:
        _verify(path)
    assert info.value.seq == n + 1


def test_inserted_event_renumbering_the_rest_is_located(tmp_path: Path) -> None:
    path, _n = _populated(tmp_path)
    with _raw(path) as conn:
        conn.execute("UPDATE audit_event SET seq = seq + 1000 WHERE seq >= 4")
        conn.execute("UPDATE audit_event SET seq = seq - 999 WHERE seq >= 1000")
        row = conn.execute(
            "SELECT body, hash, signature, kind, subjects FROM audit_event WHERE seq = 3"
        ).fetchone()
        conn.execute(
            "INSERT INTO audit_event (seq, body, hash, signature, kind, subjects) "
            "VALUES (4, ?, ?, ?, ?, ?)",
            row,
        )
    with pytest.raises(AuditIntegrityError) as info:
        _verify(path)
    assert info.value.seq == 4


def test_swapped_events_are_located(tmp_path: Path) -> None:
    path, _ = _populated(tmp_path)
    with _raw(path) as conn:
        a = conn.execute("SELECT body, hash, signature FROM audit_event WHERE seq = 4").fetchone()
        b = conn.execute("SELECT body, hash, signature FROM audit_event WHERE seq = 6").fetchone()
        conn.execute("UPDATE audit_event SET body=?, hash=?, signature=? WHERE seq = 4", b)
        conn.execute("UPDATE audit_event SET body=?, hash=?, signature=? WHERE seq = 6", a)
    with pytest.raises(AuditIntegrityError) as info:
        _verify(path)
    assert info.value.seq == 4
    assert "seq 6" in str(info.value)


@pytest.mark.parametrize(
    ("tamper", "where"),
    [
        (
            lambda c: c.execute(
                'UPDATE bag SET doc = replace(doc, \'"state":"stored"\', \'"state":"opened"\')'
            ),
            "bag/TEB-3003 differs",
        ),
        (lambda c: c.execute("DELETE FROM inspection"), None),
        (lambda c: c.execute("DELETE FROM discrepancy"), None),
        (
            lambda c: c.execute("UPDATE credential SET holder = 'iw-1' WHERE key = 'CO3-KEY'"),
            "credential/CO3-KEY: column holder",
        ),
        (
            lambda c: c.execute(
                "INSERT INTO person (key, doc) SELECT 'ghost', replace(doc, 'iw-1', 'ghost') "
                "FROM person WHERE key = 'iw-1'"
            ),
            "person/ghost was never written",
        ),
        (lambda c: c.execute("DELETE FROM person WHERE key = 'iw-1'"), "person/iw-1"),
        (
            lambda c: c.execute("UPDATE audit_key SET owner = 'ca-1' WHERE owner = 'iw-1'"),
            "audit_key row",
        ),
        (
            lambda c: c.execute("UPDATE audit_event SET subjects = '|x|' WHERE seq = 9"),
            "audit event 9: its kind/subjects",
        ),
        (
            lambda c: c.execute(
                "UPDATE audit_checkpoint SET body = replace(body, '\"v\":1', '\"v\":1 ')"
            ),
            "checkpoint at event",
        ),
    ],
    ids=[
        "edit-bag-state",
        "noop-empty-inspection",
        "noop-empty-discrepancy",
        "edit-fk-column",
        "insert-person",
        "delete-person",
        "edit-key-owner",
        "edit-history-index",
        "edit-checkpoint",
    ],
)
def test_row_changes_in_state_tables_are_detected(
    tmp_path: Path, tamper: Tamper, where: str | None
) -> None:
    path, _ = _populated(tmp_path)
    with _raw(path) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        tamper(conn)
    if where is None:  # deleting from an empty table changes nothing: must still verify
        _verify(path)
        return
    with pytest.raises(IntegrityError, match=where):
        _verify(path)
