"""Recompute the chain and every signature; name the first bad event.

Works on any iterable of stored events (a live SQLite log or a transcript file), so the
offline check needs nothing but the file.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, overload

from tcr_kit.audit.canonical import parse_canonical
from tcr_kit.audit.chain import (
    GENESIS_PREV,
    AuditIntegrityError,
    KeyRecord,
    StoredCheckpoint,
    StoredEvent,
    VerifyReport,
    checkpoint_hash,
)
from tcr_kit.audit.eventcheck import (
    PROGRESS_EVERY,
    Row,
    RowOf,
    Selector,
    SliceResult,
    check_slice,
    key_bodies,
    key_timeline,
)
from tcr_kit.audit.parallel import run_slices
from tcr_kit.audit.signing import make_verifier, signature_ok
from tcr_kit.audit.statements import check_statements

Progress = Callable[[int, int], None]
_PARALLEL_THRESHOLD = 2000
"""Below this many events everything runs in the calling process (a fork costs more)."""
_CHUNK = PROGRESS_EVERY
"""Events between progress reports (the name the parallel tests place bad events by)."""


@dataclass
class EventsCheck:
    """What checking every event of a log established (:func:`check_events`)."""

    count: int
    malformed: str | None
    """The first entry that is not an event (a malformed transcript), reported first."""
    error: AuditIntegrityError | None
    """The first bad event."""
    digests: bytes
    keys: dict[str, KeyRecord]
    announced: set[int]
    cosigned: list[int]
    """Indices of the events that carry co-signatures or declare co-signers."""
    statements: list[tuple[int, bytes]]
    """(seq, body) of the events that may embed a signed statement, re-checked by
    :func:`finish_verification` (:mod:`tcr_kit.audit.statements`)."""
    selected: list[int] | None
    """What the selector chose (``None``: no selector, or it raised on an event)."""


def check_events(
    entries: Sequence[Any],
    row: RowOf,
    body: Callable[[Any], object],
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    selector: Selector | None = None,
) -> EventsCheck:
    """Check every event of ``entries`` (event *i* at index *i - 1*), on ``workers``
    processes (default: one per CPU) for a long log.

    ``row`` reads one entry (see :data:`~tcr_kit.audit.eventcheck.RowOf`); ``body`` gives an
    entry's body, for the key timeline (:func:`~tcr_kit.audit.eventcheck.key_timeline`).
    The smallest bad event is the one reported, as a walk from event 1 would report it,
    whichever process finds it."""
    timeline = key_timeline(key_bodies(entries, body))
    for key in timeline.values():  # load the crypto libraries before any fork
        try:
            make_verifier(key.algorithm, key.public_key)
        except (ValueError, TypeError, IndexError):
            pass
    n = len(entries)
    processes = workers if workers is not None else (os.cpu_count() or 1)
    if n < _PARALLEL_THRESHOLD:
        processes = 1

    def task(start: int, stop: int, report: Callable[[int], None] | None) -> SliceResult:
        return check_slice(entries, start, stop, row, timeline, selector, report)

    slices = run_slices(task, n, processes, progress)
    malformed = next((s.malformed for s in slices if s.malformed is not None), None)
    errors = [s.error for s in slices if s.error is not None]
    error = None
    if errors:
        seq, reason = min(errors)
        error = AuditIntegrityError(seq, reason)
    unselectable = selector is None or any(s.unselectable for s in slices)
    return EventsCheck(
        count=n,
        malformed=malformed[1] if malformed is not None else None,
        error=error,
        digests=b"".join(s.digests for s in slices),
        keys=timeline,
        announced={seq for s in slices for seq in s.announced},
        cosigned=[i for s in slices for i in s.cosigned],
        statements=[(i + 1, row(entries[i])[1]) for s in slices for i in s.statements],
        selected=None if unselectable else [seq for s in slices for seq in s.selected],
    )


def verify_log(
    events: Iterable[StoredEvent],
    checkpoints: Iterable[StoredCheckpoint] = (),
    *,
    expect_head: str | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> VerifyReport:
    """Verify a whole log from event 1. Raises :class:`AuditIntegrityError` naming the first
    bad event (or checkpoint); returns a report otherwise."""
    rows = events if isinstance(events, list) else list(events)
    check = check_events(rows, _stored_row, _stored_body, workers=workers, progress=progress)
    return finish_verification(check, checkpoints, expect_head=expect_head)


def _stored_row(event: StoredEvent) -> Row:
    return event.seq, event.body, event.hash, event.signature, False


def _stored_body(event: StoredEvent) -> object:
    return event.body


def finish_verification(
    check: EventsCheck,
    checkpoints: Iterable[StoredCheckpoint] = (),
    *,
    expect_head: str | None = None,
) -> VerifyReport:
    """The report of a log whose events :func:`check_events` checked: raises the first bad
    event, then checks the checkpoints (every announced one present), the signed
    statements the events carry (:func:`~tcr_kit.audit.statements.check_statements`) and
    the head."""
    if check.error is not None:
        raise check.error
    hashes = _Hashes(check.digests)
    report = VerifyReport()
    report.events = check.count
    report.head = hashes[-1]
    report.keys = check.keys
    key_seq = {kid: key.added_seq for kid, key in check.keys.items()}
    seen: set[int] = set()
    for cp in checkpoints:
        _check_checkpoint(cp, hashes, check.keys, key_seq)
        seen.add(cp.seq)
        report.checkpoints += 1
    missing = check.announced - seen
    if missing:
        raise AuditIntegrityError(
            min(missing),
            "announced by its event but missing (deleted?)",
            what="checkpoint at event",
        )
    report.statements = check_statements(check.statements, check.keys)
    if expect_head is not None and not hmac.compare_digest(expect_head.lower(), report.head):
        raise AuditIntegrityError(
            report.events,
            f"head {report.head} is not the expected {expect_head}",
            what="head at event",
        )
    return report


class _Hashes(Sequence[str]):
    """The hex hash of every event, index = seq (index 0: the genesis ``prev``), made from
    the packed digests when asked for (a checkpoint asks for one)."""

    def __init__(self, digests: bytes) -> None:
        self._digests = digests

    def __len__(self) -> int:
        return len(self._digests) // 32 + 1

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        if index == 0:
            return GENESIS_PREV
        return self._digests[32 * (index - 1) : 32 * index].hex()


def _check_checkpoint(
    cp: StoredCheckpoint,
    hashes: Sequence[str],
    keys: dict[str, KeyRecord],
    key_seq: dict[str, int],
) -> None:
    def fail(reason: str) -> AuditIntegrityError:
        return AuditIntegrityError(cp.seq, reason, what="checkpoint at event")

    try:
        body = parse_canonical(cp.body)
    except ValueError as exc:
        raise fail(f"not canonical JSON: {exc}") from None
    if not isinstance(body, dict) or body.get("seq") != cp.seq or body.get("v") != 1:
        raise fail("malformed checkpoint")
    if cp.seq >= len(hashes):
        raise fail(f"covers event {cp.seq} but the log ends at {len(hashes) - 1} (truncated?)")
    head = body.get("head")
    if not isinstance(head, str) or not head.isascii():
        raise fail("malformed checkpoint")
    if not hmac.compare_digest(head, hashes[cp.seq]):
        raise fail(f"head differs from the recomputed hash of event {cp.seq}")
    kid = str(body.get("key_id"))
    key = keys.get(kid)
    if key is None or key_seq[kid] > cp.seq:
        raise fail(f"signed by key {kid}, not registered at that point")
    if key.revoked_seq is not None and key.revoked_seq <= cp.seq:
        raise fail(f"signed by key {kid}, revoked at event {key.revoked_seq}")
    try:
        signature = bytes.fromhex(cp.signature)
    except ValueError:
        raise fail("signature is not hex") from None
    if not signature_ok(key.algorithm, key.public_key, checkpoint_hash(cp.body), signature):
        raise fail("signature does not verify")
