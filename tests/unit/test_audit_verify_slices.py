"""Verification cut into slices checked by forked processes gives the verdict of a walk
from event 1: the links across slice boundaries, keys registered or revoked in another
slice, the smallest bad event wherever it is, a malformed entry before any bad event.

The logs are written here event by event (the format of docs/audit-format.md, signed with
libsodium), so that a test can put a bad event exactly where a slice starts or ends; each
is long enough for the slices to go to forked processes, and each verdict is compared
with the one the calling process reaches alone (``workers=1``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from tcr_kit.audit import verify
from tcr_kit.audit.canonical import canonical_bytes
from tcr_kit.audit.chain import (
    GENESIS_PREV,
    KEY_ADD,
    KEY_REVOKE,
    AuditIntegrityError,
    StoredEvent,
    event_hash,
)
from tcr_kit.audit.parallel import run_slices, slice_bounds
from tcr_kit.audit.signing import ED25519, key_id, make_verifier
from tcr_kit.audit.transcript import verify_transcript
from tcr_kit.errors import IntegrityError, OperationalError

N = verify._PARALLEL_THRESHOLD + 400


@dataclass(frozen=True)
class Key:
    actor: str
    signing: SigningKey

    @property
    def public(self) -> bytes:
        return bytes(self.signing.verify_key)

    @property
    def kid(self) -> str:
        return key_id(self.public)


ADMIN = Key("admin", SigningKey(bytes(range(32))))
CLERK = Key("clerk", SigningKey(bytes(range(1, 33))))

Plan = dict[int, tuple[Key, str, dict[str, Any]]]


def registration_of(key: Key) -> dict[str, Any]:
    return {
        "algorithm": ED25519,
        "key_id": key.kid,
        "owner": key.actor,
        "public_key": key.public.hex(),
    }


def write_log(n: int, plan: Plan, *, wrong_prev: int | None = None) -> list[StoredEvent]:
    """Events 1..n: ``plan[seq]`` = (signer, kind, payload), by default a step by ADMIN;
    event 1 is ADMIN's registration. ``wrong_prev``: that event names a prev that is not
    the hash of the event before it (and is otherwise well signed)."""
    plan = {1: (ADMIN, KEY_ADD, registration_of(ADMIN)), **plan}
    events: list[StoredEvent] = []
    prev = GENESIS_PREV
    for seq in range(1, n + 1):
        key, kind, payload = plan.get(seq, (ADMIN, "test.step", {"i": seq}))
        body = canonical_bytes(
            {
                "actor": key.actor,
                "key_id": key.kid,
                "kind": kind,
                "payload": payload,
                "prev": "ab" * 32 if seq == wrong_prev else prev,
                "seq": seq,
                "subjects": [f"bag:B{seq}"],
                "time": "2026-12-02T05:00:00Z",
                "v": 1,
            }
        )
        digest = event_hash(body)
        signature = key.signing.sign(digest).signature.hex()
        events.append(StoredEvent(seq, body, digest.hex(), signature))
        prev = digest.hex()
    return events


@cache
def plain_log() -> tuple[StoredEvent, ...]:
    return tuple(write_log(N, {}))


def boundaries(workers: int) -> list[int]:
    """The seqs of the first event of each slice after the first."""
    return [start + 1 for start, _ in slice_bounds(N, workers)[1:]]


def verdict(events: list[StoredEvent], workers: int) -> tuple[int, str] | None:
    try:
        verify.verify_log(events, workers=workers)
    except AuditIntegrityError as exc:
        return exc.seq, exc.reason
    return None


def assert_same_on_every_split(events: list[StoredEvent], expected: tuple[int, str]) -> None:
    for workers in (1, 2, 3):
        assert verdict(events, workers) == expected, workers


def test_slices_are_consecutive_and_cover_the_range() -> None:
    for n, parts in [(N, 2), (N, 3), (7, 3), (2, 5), (0, 2)]:
        bounds = slice_bounds(n, parts)
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in pairwise(bounds))
        assert len(bounds) == max(1, min(parts, n))


def test_a_plain_long_log_verifies_on_every_split() -> None:
    for workers in (1, 2, 3):
        report = verify.verify_log(list(plain_log()), workers=workers)
        assert report.events == N
        assert report.head == plain_log()[-1].hash
        assert list(report.keys) == [ADMIN.kid]


@pytest.mark.parametrize("workers", [2, 3])
def test_a_bad_signature_only_in_the_last_slice_is_found(workers: int) -> None:
    seq = N - 7
    events = list(plain_log())
    bad = events[seq - 1]
    events[seq - 1] = StoredEvent(bad.seq, bad.body, bad.hash, "00" * 64)
    reason = "signature does not verify (event altered, or signed by another key)"
    assert verdict(events, workers) == (seq, reason)
    assert verdict(events, 1) == (seq, reason)


def test_of_bad_events_in_two_slices_the_smaller_is_named() -> None:
    first, second = boundaries(2)[0] - 1, N - 3  # the last event of slice 1, one in slice 2
    events = list(plain_log())
    for seq in (second, first):
        e = events[seq - 1]
        events[seq - 1] = StoredEvent(e.seq, e.body + b" ", e.hash, e.signature)
    assert_same_on_every_split(
        events, (first, "content does not match its recorded hash (edited?)")
    )


@pytest.mark.parametrize("workers", [2, 3])
def test_the_first_event_of_a_slice_must_follow_the_last_of_the_slice_before(
    workers: int,
) -> None:
    seq = boundaries(workers)[-1]
    events = write_log(N, {}, wrong_prev=seq)
    expected = (
        seq,
        f"does not follow event {seq - 1} (inserted, deleted or reordered before it?)",
    )
    assert verdict(events, workers) == expected
    assert verdict(events, 1) == expected


def test_an_event_missing_at_a_slice_boundary_is_named() -> None:
    seq = boundaries(2)[0]
    events = list(plain_log())
    del events[seq - 1]
    assert_same_on_every_split(events, (seq, f"missing (next row is {seq + 1}: deleted?)"))


def test_a_key_revoked_in_one_slice_cannot_sign_in_a_later_one() -> None:
    late = N - 10
    plan: Plan = {
        5: (ADMIN, KEY_ADD, registration_of(CLERK)),
        6: (CLERK, "test.step", {"by": "clerk"}),
        9: (ADMIN, KEY_REVOKE, {"key_id": CLERK.kid}),
    }
    report = verify.verify_log(write_log(N, plan), workers=2)
    assert report.keys[CLERK.kid].added_seq == 5
    assert report.keys[CLERK.kid].revoked_seq == 9
    events = write_log(N, {**plan, late: (CLERK, "test.step", {"by": "clerk"})})
    assert_same_on_every_split(events, (late, f"signed by key {CLERK.kid}, revoked at event 9"))


def test_a_key_registered_in_a_later_slice_cannot_sign_before_it() -> None:
    plan: Plan = {
        20: (CLERK, "test.step", {"by": "clerk"}),
        N - 30: (ADMIN, KEY_ADD, registration_of(CLERK)),
    }
    events = write_log(N, plan)
    assert_same_on_every_split(events, (20, f"signed by key {CLERK.kid}, not registered before it"))


def test_a_key_registered_again_in_a_later_slice_is_refused_there() -> None:
    plan: Plan = {
        5: (ADMIN, KEY_ADD, registration_of(CLERK)),
        N - 30: (ADMIN, KEY_ADD, registration_of(CLERK)),
    }
    assert_same_on_every_split(write_log(N, plan), (N - 30, "key registered twice"))


def test_a_key_revoked_twice_is_refused_at_the_second_revocation() -> None:
    plan: Plan = {
        5: (ADMIN, KEY_ADD, registration_of(CLERK)),
        9: (ADMIN, KEY_REVOKE, {"key_id": CLERK.kid}),
        N - 2: (ADMIN, KEY_REVOKE, {"key_id": CLERK.kid}),
    }
    assert_same_on_every_split(write_log(N, plan), (N - 2, "malformed key revocation"))


def test_an_event_with_a_bad_signature_and_a_malformed_revocation_names_the_signature() -> None:
    """A walk checks the signature of an event before its revocation: so must a slice."""
    seq = N - 50
    events = write_log(N, {seq: (ADMIN, KEY_REVOKE, {"key_id": CLERK.kid})})  # not registered
    assert_same_on_every_split(events, (seq, "malformed key revocation"))
    e = events[seq - 1]
    events[seq - 1] = StoredEvent(e.seq, e.body, e.hash, "00" * 64)
    assert_same_on_every_split(
        events, (seq, "signature does not verify (event altered, or signed by another key)")
    )


def transcript_of(events: list[StoredEvent], path: Path) -> dict[str, Any]:
    """A whole-log transcript of ``events`` (its stated fields as the exporter writes them)."""
    report = verify.verify_log(events, workers=1)
    from tcr_kit.audit.pgpwords import pgp_words

    doc = {
        "format": "tcr-kit/audit-transcript",
        "version": 1,
        "exported_at": "2026-12-02T06:00:00Z",
        "selection": {
            "description": "whole log",
            "seqs": [e.seq for e in events],
            "criteria": {"ceremony": None, "since": None, "until": None},
        },
        "head": {
            "seq": report.events,
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
            {"seq": e.seq, "body": e.body.decode(), "hash": e.hash, "signature": e.signature}
            for e in events
        ],
        "checkpoints": [],
    }
    path.write_text(json.dumps(doc))
    return doc


def test_a_transcript_verifies_alike_on_one_and_on_two_processes(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    transcript_of(list(plain_log()), path)
    one = verify_transcript(path, workers=1)
    two = verify_transcript(path, workers=2)
    assert one == two
    assert two.selection == list(range(1, N + 1))
    assert two.report.events == N


def test_a_malformed_entry_in_the_last_slice_is_named_before_an_earlier_bad_event(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.json"
    doc = transcript_of(list(plain_log()), path)
    doc["events"][9]["signature"] = "00" * 64
    doc["events"][N - 3]["seq"] = "x"
    path.write_text(json.dumps(doc))
    for workers in (1, 2):
        with pytest.raises(IntegrityError, match="malformed transcript: event seq") as info:
            verify_transcript(path, workers=workers)
        assert not isinstance(info.value, AuditIntegrityError)
    del doc["events"][N - 3]["seq"]
    doc["events"][N - 3]["seq"] = N - 2
    path.write_text(json.dumps(doc))
    with pytest.raises(AuditIntegrityError) as bad:
        verify_transcript(path, workers=2)
    assert bad.value.seq == 10


def test_a_slice_that_raises_in_a_child_is_an_operational_error() -> None:
    def task(start: int, stop: int, report: Callable[[int], None] | None) -> int:
        if start > 0:
            raise ValueError(f"slice at {start}")
        return stop - start

    with pytest.raises(OperationalError, match="ValueError: slice at 50"):
        run_slices(task, 100, 2)


def test_a_child_that_dies_without_a_result_is_an_operational_error() -> None:
    def task(start: int, stop: int, report: Callable[[int], None] | None) -> int:
        if start > 0:
            os._exit(3)
        return stop - start

    with pytest.raises(OperationalError, match="without a result"):
        run_slices(task, 100, 3)


def test_results_come_back_in_slice_order_with_progress_to_the_end() -> None:
    seen: list[tuple[int, int]] = []

    def task(start: int, stop: int, report: Callable[[int], None] | None) -> tuple[int, int]:
        if report is not None:
            report(stop - start)
        return start, stop

    assert run_slices(task, 10, 3, lambda d, t: seen.append((d, t))) == slice_bounds(10, 3)
    assert seen[-1] == (10, 10)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_ed25519_checks_refuse_a_non_canonical_s_as_libsodium_does() -> None:
    """The direct libsodium call keeps RFC 8032's strictness: S must be below the group
    order L (S + L verifies the same equation and is refused), and it agrees with PyNaCl's
    own verify on every case here."""
    from nacl.exceptions import BadSignatureError

    order = 2**252 + 27742317777372353535851937790883648493
    message = event_hash(b"event")
    signature = ADMIN.signing.sign(message).signature
    s = int.from_bytes(signature[32:], "little") + order
    malleated = signature[:32] + s.to_bytes(32, "little")
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    check = make_verifier(ED25519, ADMIN.public)
    for candidate, valid in [(signature, True), (malleated, False), (flipped, False)]:
        assert check(message, candidate) is valid
        try:
            ADMIN.signing.verify_key.verify(message, candidate)
            nacl_valid = True
        except BadSignatureError:
            nacl_valid = False
        assert nacl_valid is valid
    assert check(message, signature[:63]) is False
