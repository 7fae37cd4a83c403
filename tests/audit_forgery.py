"""The attacker of the audit tests: holds the ledger actor's key, rewrites one event's
payload, re-signs it and re-chains (and re-signs) every event after it, in a copy of a
ledger or of a transcript. Everything such an attacker can do verifies, except what
somebody else signed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tcr_kit.audit.canonical import canonical_bytes
from tcr_kit.audit.chain import event_hash
from tcr_kit.audit.pgpwords import pgp_words
from tcr_kit.audit.signing import key_id

Payload = dict[str, Any]


def _rechain(
    rows: list[tuple[int, bytes]], prev: str, seq: int, edit: Callable[[Payload], None], key: Any
) -> Iterator[tuple[int, bytes, str, str]]:
    """Events ``rows`` (from ``seq`` on, after the event whose hash is ``prev``) with
    ``edit`` applied to event ``seq``'s payload, each re-chained and re-signed by ``key``
    (the actor's: every one of them must be signed by it, as the attacker has no other)."""
    for n, raw in rows:
        body = json.loads(raw)
        assert body["key_id"] == key_id(key.public_key_bytes()), "an event by another key"
        if n == seq:
            edit(body["payload"])
        body["prev"] = prev
        data = canonical_bytes(body)
        digest = event_hash(data)
        prev = digest.hex()
        yield n, data, prev, key.sign(digest).hex()


def forge_ledger(path: Path, seq: int, edit: Callable[[Payload], None], key: Any) -> Path:
    """A copy of the ledger at ``path`` whose event ``seq`` the attacker rewrote."""
    forged = path.with_name(f"forged-{seq}-{path.name}")
    src, dst = sqlite3.connect(path), sqlite3.connect(forged)
    src.backup(dst)
    src.close()
    with dst:
        tables = {r[0] for r in dst.execute("SELECT name FROM sqlite_master")}
        for table in {"audit_checkpoint", "audit_cosignature"} & tables:  # none to forge here
            later = f"SELECT COUNT(*) FROM {table} WHERE seq >= ?"  # noqa: S608
            assert dst.execute(later, (seq,)).fetchone()[0] == 0
        prev = dst.execute("SELECT hash FROM audit_event WHERE seq = ?", (seq - 1,)).fetchone()[0]
        rows = dst.execute(
            "SELECT seq, body FROM audit_event WHERE seq >= ? ORDER BY seq", (seq,)
        ).fetchall()
        for n, data, digest, signature in _rechain(rows, prev, seq, edit, key):
            dst.execute(
                "UPDATE audit_event SET body = ?, hash = ?, signature = ? WHERE seq = ?",
                (data, digest, signature, n),
            )
    dst.close()
    return forged


def forge_transcript(path: Path, seq: int, edit: Callable[[Payload], None], key: Any) -> Path:
    """A copy of the transcript at ``path`` rewritten the same way, its head restated."""
    doc = json.loads(path.read_bytes())
    events = doc["events"]
    rows = [(e["seq"], e["body"].encode()) for e in events if e["seq"] >= seq]
    for n, data, digest, signature in _rechain(rows, events[seq - 2]["hash"], seq, edit, key):
        events[n - 1].update(body=data.decode(), hash=digest, signature=signature)
    last = events[-1]["hash"]
    doc["head"].update(sha256=last, words=" ".join(pgp_words(bytes.fromhex(last))))
    forged = path.with_name(f"forged-{seq}-{path.name}")
    forged.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return forged
