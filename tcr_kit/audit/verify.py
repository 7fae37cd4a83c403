"""Recompute the chain and every signature; name the first bad event.

Works on any iterable of stored events (a live SQLite log or a transcript file), so the
offline check needs nothing but the file.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from tcr_kit.audit.canonical import parse_canonical
from tcr_kit.audit.chain import (
    CHECKPOINT_EVENT,
    GENESIS_PREV,
    KEY_ADD,
    KEY_REVOKE,
    AuditIntegrityError,
    KeyRecord,
    StoredCheckpoint,
    StoredEvent,
    VerifyReport,
    checkpoint_hash,
    event_hash,
)
from tcr_kit.audit.signing import ALGORITHMS, Verifier, check_public_key, key_id, make_verifier

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

Progress = Callable[[int, int], None]
_PARALLEL_THRESHOLD = 4000
_CHUNK = 2000

SigJob = tuple[int, str, bytes, bytes, bytes]  # seq, algorithm, public key, message, sig


def _first_bad_signature(jobs: Sequence[SigJob]) -> int | None:
    """Worker: the seq of the first job whose signature fails, or None."""
    cache: dict[tuple[str, bytes], Verifier] = {}
    for seq, algorithm, pub, message, signature in jobs:
        verifier = cache.get((algorithm, pub))
        if verifier is None:
            try:
                verifier = make_verifier(algorithm, pub)
            except (ValueError, TypeError, IndexError):
                return seq
            cache[(algorithm, pub)] = verifier
        if not verifier(message, signature):
            return seq
    return None


class _SignatureChecks:
    """Signature checks that start while the chain is still being walked.

    Jobs are handed over in chunks of :data:`_CHUNK`; once :data:`_PARALLEL_THRESHOLD` jobs
    have been seen (and more than one worker is allowed) the chunks go to a process pool, so
    libsodium checks signatures on the other core while this one hashes and parses bodies.
    Every chunk is checked to its first failure and the smallest failing sequence number
    over all chunks is the one reported, whatever the order in which workers finish.
    """

    def __init__(self, workers: int | None) -> None:
        self._workers = workers if workers is not None else (os.cpu_count() or 1)
        self._pending: list[SigJob] = []
        self._held: list[list[SigJob]] = []
        self._futures: list[tuple[int, Future[int | None]]] = []
        self._pool: ProcessPoolExecutor | None = None
        self.total = 0

    def add(self, job: SigJob) -> None:
        self._pending.append(job)
        self.total += 1
        if len(self._pending) >= _CHUNK:
            self._hand_over()

    def _hand_over(self) -> None:
        chunk, self._pending = self._pending, []
        if self._pool is None and self._workers > 1 and self.total >= _PARALLEL_THRESHOLD:
            from concurrent.futures import ProcessPoolExecutor  # multiprocessing: when used

            # Forked workers inherit the crypto libraries imported here.
            _first_bad_signature(chunk[:1])
            self._pool = ProcessPoolExecutor(max_workers=self._workers)
            for held in self._held:
                self._futures.append((len(held), self._pool.submit(_first_bad_signature, held)))
            self._held = []
        if self._pool is not None:
            self._futures.append((len(chunk), self._pool.submit(_first_bad_signature, chunk)))
        else:
            self._held.append(chunk)

    def first_bad(self, progress: Progress | None) -> int | None:
        """Wait for every check; the smallest failing sequence number, or None."""
        if self._pending:
            self._hand_over()
        bad: list[int] = []
        done = 0
        try:
            for size, future in self._futures:
                result = future.result()
                done += size
                if progress:
                    progress(done, self.total)
                if result is not None:
                    bad.append(result)
            for chunk in self._held:  # a small log: checked here, in order, to the first failure
                result = _first_bad_signature(chunk)
                done += len(chunk)
                if progress:
                    progress(done, self.total)
                if result is not None:
                    bad.append(result)
                    break
        finally:
            self.close()
        return min(bad) if bad else None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


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
    report = VerifyReport()
    keys: dict[str, KeyRecord] = {}
    key_seq: dict[str, int] = {}
    hashes: list[str] = [GENESIS_PREV]
    jobs = _SignatureChecks(workers)
    announced: set[int] = set()
    chain_error: AuditIntegrityError | None = None
    prev = GENESIS_PREV
    expected = 1
    try:
        for event in events:
            try:
                prev = _check_event(event, expected, prev, keys, key_seq, jobs, announced)
            except AuditIntegrityError as exc:
                chain_error = exc
                break
            hashes.append(prev)
            expected += 1
    except BaseException:
        jobs.close()
        raise
    bad_sig = jobs.first_bad(progress)
    if bad_sig is not None and (chain_error is None or bad_sig <= chain_error.seq):
        raise AuditIntegrityError(
            bad_sig, "signature does not verify (event altered, or signed by another key)"
        )
    if chain_error is not None:
        raise chain_error
    report.events = expected - 1
    report.head = prev
    report.keys = keys
    seen: set[int] = set()
    for cp in checkpoints:
        _check_checkpoint(cp, hashes, keys, key_seq)
        seen.add(cp.seq)
        report.checkpoints += 1
    missing = announced - seen
    if missing:
        raise AuditIntegrityError(
            min(missing),
            "announced by its event but missing (deleted?)",
            what="checkpoint at event",
        )
    if expect_head is not None and not hmac.compare_digest(expect_head.lower(), prev):
        raise AuditIntegrityError(
            report.events, f"head {prev} is not the expected {expect_head}", what="head at event"
        )
    return report


def _check_event(
    event: StoredEvent,
    expected: int,
    prev: str,
    keys: dict[str, KeyRecord],
    key_seq: dict[str, int],
    jobs: _SignatureChecks,
    announced: set[int],
) -> str:
    seq = expected
    if event.seq != expected:
        if event.seq > expected:
            raise AuditIntegrityError(expected, f"missing (next row is {event.seq}: deleted?)")
        raise AuditIntegrityError(expected, f"row numbered {event.seq} out of order")
    digest = event_hash(event.body)
    digest_hex = digest.hex()
    if not isinstance(event.hash, str) or not event.hash.isascii():
        raise AuditIntegrityError(seq, "recorded hash is not hex (edited?)")
    if not hmac.compare_digest(digest_hex, event.hash.lower()):
        raise AuditIntegrityError(seq, "content does not match its recorded hash (edited?)")
    try:
        body = parse_canonical(event.body)
    except ValueError as exc:
        raise AuditIntegrityError(seq, f"body is not canonical JSON: {exc}") from None
    if not isinstance(body, dict):
        raise AuditIntegrityError(seq, "body is not a JSON object")
    if body.get("v") != 1:
        raise AuditIntegrityError(seq, f"unknown format version {body.get('v')!r}")
    if body.get("seq") != seq:
        raise AuditIntegrityError(seq, f"body says seq {body.get('seq')} (moved or reordered?)")
    if body.get("prev") != prev:
        raise AuditIntegrityError(
            seq, f"does not follow event {seq - 1} (inserted, deleted or reordered before it?)"
        )
    kid = body.get("key_id")
    actor = body.get("actor")
    payload = body.get("payload")
    if not isinstance(kid, str) or not isinstance(actor, str) or not isinstance(payload, dict):
        raise AuditIntegrityError(seq, "malformed event fields")
    new_key: KeyRecord | None = None
    if body.get("kind") == KEY_ADD:
        try:
            pub = bytes.fromhex(str(payload["public_key"]))
            algorithm = str(payload["algorithm"])
            owner = str(payload["owner"])
        except (KeyError, ValueError):
            raise AuditIntegrityError(seq, "malformed key registration") from None
        try:
            check_public_key(algorithm, pub)
        except (ValueError, TypeError, IndexError):
            raise AuditIntegrityError(seq, "malformed key registration") from None
        if algorithm not in ALGORITHMS or payload.get("key_id") != key_id(pub):
            raise AuditIntegrityError(seq, "malformed key registration")
        new_key = KeyRecord(key_id(pub), algorithm, pub, owner, seq)
        if new_key.key_id in keys:
            raise AuditIntegrityError(seq, "key registered twice")
    if seq == 1:
        if new_key is None or new_key.key_id != kid or new_key.owner != actor:
            raise AuditIntegrityError(1, "the first event must be a self-signed key registration")
        signer = new_key
    else:
        found = keys.get(kid)
        if found is None:
            raise AuditIntegrityError(seq, f"signed by key {kid}, not registered before it")
        if found.revoked_seq is not None:
            raise AuditIntegrityError(
                seq, f"signed by key {kid}, revoked at event {found.revoked_seq}"
            )
        signer = found
    if signer.owner != actor:
        raise AuditIntegrityError(seq, f"actor {actor} signed with the key of {signer.owner}")
    try:
        signature = bytes.fromhex(event.signature)
    except ValueError:
        raise AuditIntegrityError(seq, "signature is not hex") from None
    jobs.add((seq, signer.algorithm, signer.public_key, digest, signature))
    if body.get("kind") == KEY_REVOKE:
        target = keys.get(str(payload.get("key_id")))
        if target is None or target.revoked_seq is not None or target.key_id == kid:
            raise AuditIntegrityError(seq, "malformed key revocation")
        keys[target.key_id] = replace(target, revoked_seq=seq)
    if body.get("kind") == CHECKPOINT_EVENT:
        announced.add(seq)
    if new_key is not None:
        keys[new_key.key_id] = new_key
        key_seq[new_key.key_id] = seq
    return digest_hex


def _check_checkpoint(
    cp: StoredCheckpoint,
    hashes: list[str],
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
    job = (cp.seq, key.algorithm, key.public_key, checkpoint_hash(cp.body), signature)
    if _first_bad_signature([job]) is not None:
        raise fail("signature does not verify")
