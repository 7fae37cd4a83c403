"""Combining native shares: decide which shares to trust, then stream the secret out.

Nothing is written unless the shares agree: the selection verifies tags under the
reconstructed integrity key K before a single payload byte is interpolated.
"""

from __future__ import annotations

import hmac
import itertools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from tcr_kit.secrets import SecretBuffer, wipe
from tcr_kit.sharing.errors import (
    AmbiguousSetsError,
    ForeignShareError,
    InconsistentSharesError,
    NotEnoughSharesError,
    ShareChangedError,
    ShareChecksumError,
    ShareError,
)
from tcr_kit.sharing.native_header import FIELD, ShareHeader
from tcr_kit.sharing.native_share import NativeShare
from tcr_kit.sharing.result import CombineResult
from tcr_kit.sharing.stream import ISAL, CombineKernel

if TYPE_CHECKING:
    pass

__all__ = [
    "MAX_SUBSET_TRIALS",
    "Selection",
    "combine_shares",
    "combine_single_pass",
    "combine_stream",
    "select_shares",
    "single_pass_plan",
]


MAX_SUBSET_TRIALS = 20000
"""How many m-subsets the combiner tries before giving up on locating bad shares."""


@dataclass
class Selection:
    key: bytes
    chosen: list[NativeShare]
    verified: list[NativeShare]
    rejected: dict[str, str]
    warnings: list[str]


def _majority(values: Sequence[bytes]) -> bytes:
    counts: dict[bytes, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return max(counts, key=lambda v: counts[v])


def _header_signature(h: ShareHeader) -> bytes:
    # Not the count: shares added by an extension carry a higher one (the highest index
    # issued when they were made), and each share's tag covers its own count anyway.
    return struct.pack(">BQ", h.threshold, h.secret_length) + h.label.encode()


def _complete(shares: Sequence[NativeShare]) -> bool:
    """Whether shares of one set hold as many distinct indices as their set's threshold."""
    threshold = _majority_header(shares).threshold
    return len({s.header.index for s in shares}) >= threshold


def _choose_set(shares: Sequence[NativeShare], set_id: bytes | None) -> bytes:
    """The set to combine: ``set_id`` if given, else the only complete set, else the
    majority. Two or more complete sets are ambiguous: :class:`AmbiguousSetsError`."""
    if set_id is not None:
        return set_id
    by_set: dict[bytes, list[NativeShare]] = {}
    for s in shares:
        by_set.setdefault(s.header.set_id, []).append(s)
    complete = [sid for sid, members in by_set.items() if _complete(members)]
    if len(complete) > 1:
        described = "; ".join(
            f"set {sid.hex()}: {', '.join(s.source for s in by_set[sid])}" for sid in complete
        )
        raise AmbiguousSetsError(
            f"shares of {len(complete)} complete share sets were given ({described}); "
            "refusing to guess which secret is wanted: choose one set (--set-id)",
            [sid.hex() for sid in complete],
        )
    if complete:
        return complete[0]
    return _majority([s.header.set_id for s in shares])


def _header_candidates(
    shares: Sequence[NativeShare], rejected: dict[str, str], set_id: bytes | None = None
) -> list[NativeShare]:
    """Shares of the chosen set whose headers agree; the others go to ``rejected``."""
    if not shares:
        return []
    chosen_id = _choose_set(shares, set_id)
    same_set = [s for s in shares if s.header.set_id == chosen_id]
    for s in shares:
        if s.header.set_id != chosen_id:
            rejected[s.source] = s._reject_reason(
                f"belongs to share set {s.header.set_id_hex}, not {chosen_id.hex()}"
            )
    if not same_set:
        return []
    signature = _header_signature(_majority_header(same_set))
    candidates = []
    for s in same_set:
        if _header_signature(s.header) != signature:
            rejected[s.source] = s._reject_reason(
                "its threshold, label or length disagree with the set"
            )
        else:
            candidates.append(s)
    return candidates


def select_shares(
    shares: Sequence[NativeShare],
    rejected_early: dict[str, str] | None = None,
    *,
    set_id: bytes | None = None,
) -> Selection:
    """Decide which shares to trust; name every one that is rejected and why.

    Shares of several sets: ``set_id`` picks one; without it the one complete set is taken,
    and two or more complete sets raise :class:`AmbiguousSetsError` (exit 3) naming them.

    Raises :class:`NotEnoughSharesError` (exit 4) when too few shares were given and none
    was bad, and an :class:`IntegrityError` (exit 3) naming the culprits otherwise.
    """
    rejected: dict[str, str] = dict(rejected_early or {})
    _prefetch_digests(shares)
    if not shares:
        if rejected:
            _raise_short(0, 1, rejected)
        raise NotEnoughSharesError(0, 1, "no shares given")
    warnings: list[str] = []
    candidates = _header_candidates(shares, rejected, set_id)
    # Identical copies of one share count once.
    unique: list[NativeShare] = []
    seen: dict[tuple[int, bytes], NativeShare] = {}
    for s in candidates:
        identity = (s.header.index, s.payload_digest + s.header.kshare + s.header.tag)
        if identity in seen:
            warnings.append(f"{s.source} is the same share as {seen[identity].source}; used once")
            continue
        seen[identity] = s
        unique.append(s)
    if not candidates and set_id is not None:
        error = ForeignShareError(shares[0].source, f"no share of set {set_id.hex()} was given")
        error.args = (_with_rejections(f"no share of set {set_id.hex()} was given", rejected),)
        raise error
    threshold = candidates[0].header.threshold if candidates else shares[0].header.threshold
    if threshold == 1:
        warnings.append("threshold 1: every single share reveals the secret")
    distinct_indices = {s.header.index for s in unique}
    if len(distinct_indices) < threshold:
        by_index: dict[int, NativeShare] = {}
        for s in unique:
            first = by_index.setdefault(s.header.index, s)
            if first is not s:
                rejected[s.source] = s._reject_reason(
                    f"claims index {s.header.index} like {first.source} but differs from it"
                )
        _raise_short(len(distinct_indices), threshold, rejected)
    found = _find_consistent(unique, threshold)
    if found is None:
        corrupt = [s for s in unique if not s.crc_ok()]
        for s in corrupt:
            rejected[s.source] = "checksum mismatch: the share was mistyped or corrupted"
        if corrupt:
            good = [s for s in unique if s not in corrupt]
            if len({s.header.index for s in good}) < threshold:
                _raise_short(len({s.header.index for s in good}), threshold, rejected)
            found = _find_consistent(good, threshold)
    if found is None:
        if len(unique) == threshold:
            message = (
                f"the {threshold} shares do not agree: at least one is corrupted or "
                "substituted, and with no spare share it cannot be told which; "
                "present one more share of this set to locate it"
            )
        else:
            message = (
                f"no {threshold} of the {len(unique)} shares agree: too many are "
                "corrupted, substituted or from different sets to recover"
            )
        raise InconsistentSharesError(_with_rejections(message, rejected))
    key, chosen = found
    points = [(s.header.index, s.header.kshare) for s in chosen]
    verified = list(chosen)
    for s in unique:
        if s in chosen:
            continue
        expected_kshare = FIELD.interpolate(points, at=s.header.index)
        if not hmac.compare_digest(expected_kshare, s.header.kshare) or not s.tag_matches(key):
            rejected[s.source] = s._reject_reason(
                "inconsistent with the other shares of the set (substituted or tampered)"
            )
        else:
            verified.append(s)
    for s in unique:
        if s.source in rejected and s not in verified and s.crc_ok():
            if any(v.header.index == s.header.index for v in verified):
                rejected[s.source] = (
                    f"claims index {s.header.index} like {_source_of(verified, s)} "
                    "but does not match the set"
                )
    return Selection(
        key, sorted(chosen, key=lambda s: s.header.index), verified, rejected, warnings
    )


def _source_of(verified: list[NativeShare], s: NativeShare) -> str:
    return next(v.source for v in verified if v.header.index == s.header.index)


def _majority_header(shares: Sequence[NativeShare]) -> ShareHeader:
    signatures = [_header_signature(s.header) for s in shares]
    winner = _majority(signatures)
    return shares[signatures.index(winner)].header


def _with_rejections(message: str, rejected: dict[str, str]) -> str:
    if not rejected:
        return message
    details = "; ".join(f"{src}: {why}" for src, why in rejected.items())
    return f"{details}; {message}"


def _raise_short(have: int, need: int, rejected: dict[str, str]) -> None:
    if rejected:
        first_src, first_why = next(iter(rejected.items()))
        message = _with_rejections(
            f"{have} usable share{'s' if have != 1 else ''} remain, {need} needed", rejected
        )
        error: ShareError
        if "belongs to share set" in first_why:
            error = ForeignShareError(first_src, first_why)
        elif "checksum" in first_why:
            error = ShareChecksumError(first_src, first_why)
        else:
            error = ShareError(first_src, first_why)
        error.args = (message,)
        raise error
    raise NotEnoughSharesError(have, need)


def _find_consistent(
    shares: Sequence[NativeShare], threshold: int
) -> tuple[bytes, list[NativeShare]] | None:
    ordered = sorted(shares, key=lambda s: s.header.index)
    for trials, subset in enumerate(itertools.combinations(ordered, threshold)):
        if trials >= MAX_SUBSET_TRIALS:
            return None
        if len({s.header.index for s in subset}) != threshold:
            continue
        key = FIELD.interpolate([(s.header.index, s.header.kshare) for s in subset])
        if all(s.tag_matches(key) for s in subset):
            return key, list(subset)
    return None


def _digest_of(share: NativeShare) -> bytes:
    return share.payload_digest


def _prefetch_digests(shares: Sequence[NativeShare]) -> None:
    """Hash file-backed payloads on lane threads while this thread loads the GF kernel.

    hashlib releases the GIL on large buffers, so the import (a good part of a combine's
    fixed cost) overlaps the hashing instead of adding to it.
    """
    pending = [s for s in shares if s._digest is None]
    if not pending:
        return
    import threading

    from tcr_kit.sharing.lanes import MAX_LANES

    # Up to MAX_LANES threads, each hashing every k-th share: SHA-256 of one share cannot be
    # split, and with as many threads as shares the cores stay busy to the end.
    errors: list[BaseException] = []

    def digest_every(group: Sequence[NativeShare]) -> None:
        try:
            for share in group:
                _digest_of(share)
        except BaseException as exc:  # raised again in this thread below
            errors.append(exc)

    lanes = min(len(pending), MAX_LANES)
    threads = [
        threading.Thread(target=digest_every, args=(pending[first::lanes],), daemon=True)
        for first in range(lanes)
    ]
    for thread in threads:
        thread.start()
    from tcr_kit.sharing.stream import prepare

    try:
        prepare()
    finally:
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]


def _stream_pass(
    chosen: Sequence[NativeShare],
    write: Callable[[memoryview], object],
    *,
    also_read: Sequence[NativeShare] = (),
    verified: bool = True,
    progress: Callable[[int], None] | None = None,
) -> list[bytes]:
    """Interpolate the payloads of ``chosen`` at 0, chunk by chunk, into ``write``; return
    the SHA-256 of every payload read (``chosen``, then ``also_read``).

    Each share is read and hashed on a lane thread (:mod:`tcr_kit.sharing.lanes`), into a
    private buffer, before this thread combines the chunk and writes the result in order.
    With ``verified`` (the shares' digests are known), the last block is written only once
    every payload read in this pass has proved to be the one verified
    (:class:`ShareChangedError` otherwise): a share changed on disk since its tag was
    checked can never yield a complete output. Without it (the single pass of
    :func:`combine_single_pass`) the digests returned are what verification then checks:
    those of the very bytes that were combined. ``also_read`` shares are read and hashed in
    the same pass but not combined. ``progress`` gets the secret bytes produced so far.
    """
    from tcr_kit.sharing.lanes import ReadLanes

    length = chosen[0].header.secret_length
    m = len(chosen)
    done = 0
    out_buffer: bytearray | None = None
    with ReadLanes([*chosen, *also_read], length) as lanes:
        # The kernel (ISA-L's self-test, or numpy's import) loads while the lanes read.
        kernel = CombineKernel(FIELD, [s.header.index for s in chosen])
        if kernel.kernel == ISAL:
            out_buffer = bytearray(min(lanes.chunk, length))
        try:
            while done < length:
                blocks = lanes.take()
                size = len(blocks[0])
                target = None if out_buffer is None else memoryview(out_buffer)[:size]
                out = kernel.process(blocks[:m], target)
                lanes.give_back()
                try:
                    if done + size >= length and verified:
                        _check_unchanged(chosen, lanes.digests())
                    write(memoryview(out))
                finally:
                    if out_buffer is None:
                        wipe(out)
                done += size
                if progress is not None:
                    progress(done)
        finally:
            if out_buffer is not None:
                wipe(out_buffer)
        return lanes.digests()


def _check_unchanged(chosen: Sequence[NativeShare], digests: Sequence[bytes]) -> None:
    """Raise :class:`ShareChangedError` unless every payload read hashes as verified."""
    for share, digest in zip(chosen, digests, strict=True):
        if not hmac.compare_digest(digest, share.payload_digest):
            raise ShareChangedError(
                share.source,
                "changed while the secret was being recovered: its bytes no longer match "
                "the share that was verified",
            )


def _result(selection: Selection) -> CombineResult:
    return CombineResult(
        secret=SecretBuffer(0),
        verified=True,
        used=[s.source for s in selection.chosen],
        rejected=dict(selection.rejected),
        warnings=list(selection.warnings),
    )


def combine_stream(
    shares: Sequence[NativeShare],
    sink: BinaryIO | Callable[[memoryview], object],
    rejected_early: dict[str, str] | None = None,
    *,
    set_id: bytes | None = None,
    progress: Callable[[int], None] | None = None,
) -> CombineResult:
    """Verify the shares, then stream the secret to ``sink``; nothing is written unless the
    shares agree. The returned result's ``secret`` is empty (the secret went to the sink).

    The payloads are hashed again as they are combined and the last block is written only
    if they are still the verified ones (:class:`ShareChangedError` otherwise, exit 3).
    ``progress`` is called with the number of secret bytes written so far.
    """
    selection = select_shares(shares, rejected_early, set_id=set_id)
    _stream_pass(selection.chosen, sink if callable(sink) else sink.write, progress=progress)
    return _result(selection)


def single_pass_plan(
    shares: Sequence[NativeShare], *, set_id: bytes | None = None
) -> list[NativeShare] | None:
    """The shares :func:`select_shares` chooses when none is bad, from the headers alone (no
    payload is read); None when the headers already show that a plain selection is needed
    (two complete sets, too few distinct indices)."""
    if not shares:
        return None
    try:
        chosen_id = _choose_set(shares, set_id)
    except ShareError:
        return None
    same_set = [s for s in shares if s.header.set_id == chosen_id]
    if not same_set:
        return None
    signature = _header_signature(_majority_header(same_set))
    first: dict[int, NativeShare] = {}
    for s in sorted(same_set, key=lambda s: s.header.index):
        if _header_signature(s.header) == signature:
            first.setdefault(s.header.index, s)
    threshold = same_set[0].header.threshold
    if len(first) < threshold:
        return None
    return list(first.values())[:threshold]


def combine_single_pass(
    shares: Sequence[NativeShare],
    plan: Sequence[NativeShare],
    sink: BinaryIO | Callable[[memoryview], object],
    rejected_early: dict[str, str] | None = None,
    *,
    set_id: bytes | None = None,
    progress: Callable[[int], None] | None = None,
) -> CombineResult | None:
    """Read every share once: combine ``plan`` (from :func:`single_pass_plan`) into
    ``sink`` while hashing every payload, then verify as :func:`select_shares` does, on the
    digests of the bytes that were read and combined.

    Returns the result when the verified choice is ``plan``: what went to the sink is then
    the secret, computed from exactly the payload bytes that verified. Returns None when it
    is not (a bad share): what went to the sink must be discarded, and a plain
    :func:`combine_stream` (which re-reads the chosen shares) recovers the secret. Raises
    like :func:`select_shares` when the shares cannot be verified. The sink is written
    before verification, so it must be a file that is only published on success (as
    :func:`tcr_kit.fileio.atomic_output` does), never a stream someone reads.
    """
    unread = [s for s in shares if s._digest is None and all(s is not p for p in plan)]
    digests = _stream_pass(
        plan,
        sink if callable(sink) else sink.write,
        also_read=unread,
        verified=False,
        progress=progress,
    )
    for share, digest in zip([*plan, *unread], digests, strict=True):
        if share._digest is None:
            share._digest = digest
        elif not hmac.compare_digest(share._digest, digest):
            raise ShareChangedError(
                share.source,
                "changed while the secret was being recovered: its bytes no longer match "
                "the share that was verified",
            )
    selection = select_shares(shares, rejected_early, set_id=set_id)
    planned = sorted(plan, key=lambda s: s.header.index)
    if len(selection.chosen) != len(planned) or any(
        a is not b for a, b in zip(selection.chosen, planned, strict=True)
    ):
        return None
    return _result(selection)


def combine_shares(shares: Sequence[NativeShare]) -> CombineResult:
    """Verify and combine in memory; the caller wipes ``result.secret``."""
    selection_length = max((s.header.secret_length for s in shares), default=0)
    out = bytearray(selection_length)
    position = 0

    def put(block: memoryview) -> None:
        nonlocal position
        out[position : position + len(block)] = block
        position += len(block)

    try:
        result = combine_stream(shares, put)
    except BaseException:
        wipe(out)
        raise
    del out[position:]
    result.secret = SecretBuffer.adopt(out)
    return result
