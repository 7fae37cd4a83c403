"""Self-contained transcripts: every event from 1 to the end of a selection, the
checkpoints they cover, and the public keys, in one JSON file an outsider can verify."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tcr_kit.audit.canonical import parse_canonical
from tcr_kit.audit.chain import AuditLog, StoredCheckpoint, StoredEvent, VerifyReport
from tcr_kit.audit.pgpwords import pgp_words
from tcr_kit.audit.verify import Progress, verify_log
from tcr_kit.clock import isoformat, utcnow
from tcr_kit.errors import InputError, IntegrityError, OperationalError
from tcr_kit.fileio import write_new_file

TRANSCRIPT_FORMAT = "tcr-kit/audit-transcript"
TRANSCRIPT_VERSION = 1

Selector = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class TranscriptResult:
    report: VerifyReport
    selection: list[int]
    description: str


def build_transcript(
    log: AuditLog,
    select: Selector | None = None,
    description: str = "whole log",
    *,
    through_checkpoint: bool = False,
) -> dict[str, Any]:
    """A transcript dict: events 1..last selected, all checkpoints up to it, the keys.

    With ``through_checkpoint``, the transcript runs on to the first checkpoint at or after
    the last selected event (the one taken when a ceremony closed), so the head published
    at that checkpoint is the transcript's head."""
    events: list[StoredEvent] = []
    selected: list[int] = []
    for event in log.events():
        events.append(event)
        if select is None or select(parse_canonical(event.body)):
            selected.append(event.seq)
    if not selected:
        raise InputError("no audit event matches the selection")
    last = selected[-1]
    if through_checkpoint:
        later = [c.seq for c in log.checkpoints() if c.seq >= last]
        if later:
            last = min(later)
    events = events[:last]
    report = verify_log(events, [c for c in log.checkpoints() if c.seq <= last])
    return {
        "format": TRANSCRIPT_FORMAT,
        "version": TRANSCRIPT_VERSION,
        "exported_at": isoformat(utcnow()),
        "selection": {"description": description, "seqs": selected},
        "head": {
            "seq": last,
            "sha256": report.head,
            "words": " ".join(pgp_words(bytes.fromhex(report.head))),
        },
        "keys": [
            {
                "key_id": k.key_id,
                "algorithm": k.algorithm,
                "public_key": k.public_key.hex(),
                "owner": k.owner,
                "registered_at_event": k.added_seq,
                "revoked_at_event": k.revoked_seq,
            }
            for k in report.keys.values()
        ],
        "events": [
            {"seq": e.seq, "body": e.body.decode("ascii"), "hash": e.hash, "signature": e.signature}
            for e in events
        ],
        "checkpoints": [
            {"seq": c.seq, "body": c.body.decode("ascii"), "signature": c.signature}
            for c in log.checkpoints()
            if c.seq <= last
        ],
    }


def write_transcript(
    transcript: dict[str, Any], path: str | os.PathLike[str], *, force: bool = False
) -> str:
    """Write ``transcript`` to a new file; returns the file's SHA-256 hex."""
    import hashlib

    data = (json.dumps(transcript, indent=1, sort_keys=True) + "\n").encode("ascii")
    write_new_file(path, data, mode=0o644, force=force)
    return hashlib.sha256(data).hexdigest()


def verify_transcript(
    path: str | os.PathLike[str],
    *,
    expect_head: str | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> TranscriptResult:
    """Verify a transcript from the file alone; raises on the first bad event."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise OperationalError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        doc = json.loads(raw)
        if doc.get("format") != TRANSCRIPT_FORMAT or doc.get("version") != TRANSCRIPT_VERSION:
            raise InputError(f"{path}: not a tcr-kit audit transcript (version 1)")
        events = [
            StoredEvent(int(e["seq"]), str(e["body"]).encode("ascii"), e["hash"], e["signature"])
            for e in doc["events"]
        ]
        checkpoints = [
            StoredCheckpoint(int(c["seq"]), str(c["body"]).encode("ascii"), c["signature"])
            for c in doc["checkpoints"]
        ]
        selection = [int(s) for s in doc["selection"]["seqs"]]
        description = str(doc["selection"]["description"])
        head = doc["head"]
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeEncodeError) as exc:
        raise InputError(f"{path}: malformed transcript: {exc}") from None
    report = verify_log(
        events, checkpoints, expect_head=expect_head, progress=progress, workers=workers
    )
    if head.get("seq") != report.events or head.get("sha256") != report.head:
        raise IntegrityError(f"{path}: the stated head does not match the recomputed chain")
    listed = {k.get("key_id"): k for k in doc.get("keys", [])}
    for kid, key in report.keys.items():
        entry = listed.get(kid)
        if (
            entry is None
            or entry.get("public_key") != key.public_key.hex()
            or entry.get("owner") != key.owner
        ):
            raise IntegrityError(f"{path}: key list disagrees with registrations for key {kid}")
    if any(s < 1 or s > report.events for s in selection):
        raise IntegrityError(f"{path}: selection names events outside the transcript")
    return TranscriptResult(report, selection, description)
