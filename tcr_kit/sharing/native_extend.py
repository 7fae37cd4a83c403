"""Extending a native share set: new shares at new indices, same secret, same integrity key.

Given m shares that agree (their tags verify under the integrity key K they reconstruct),
every further share is a point of the same two polynomials: its payload is the Lagrange
combination of the m payloads at the new x, its kshare the same combination of their
kshares, and its tag is computed under K like the split's. The secret itself is never
formed: the new payloads are interpolated straight from the old ones, chunk by chunk.

A new share's *count* byte is the highest index the set has issued when it is made, so it
can carry an index above the split's count; combiners accept shares of one set whose counts
differ (``docs/formats.md``). Indices up to the highest one issued are never reissued.

Extending does not revoke anything: a lost share still combines with the others. When the
share may have been found, a rekey (``tcr hsm rekey``) is the answer, not an extension.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from tcr_kit.errors import InputError, IntegrityError
from tcr_kit.secrets import wipe
from tcr_kit.sharing.errors import (
    ForeignShareError,
    InconsistentSharesError,
    ShareChangedError,
)
from tcr_kit.sharing.native_combine import select_shares
from tcr_kit.sharing.native_header import (
    FIELD,
    FORMAT_VERSION,
)
from tcr_kit.sharing.native_share import NativeShare, decode_share
from tcr_kit.sharing.native_split import ShareWriter
from tcr_kit.sharing.stream import CHUNK_SIZE, ISAL, kernel_name

if TYPE_CHECKING:
    from tcr_kit.sharing.isal import RegionEncoder

__all__ = [
    "ExtendOutcome",
    "IndexInUseError",
    "extend_bytes",
    "extend_stream",
    "extend_to_dir",
    "highest_index",
    "plan_indices",
]


class IndexInUseError(IntegrityError):
    """A new share was asked for at an index the set has already issued (exit 3): it would
    be a copy of a share someone holds, or of a lost one."""


def highest_index(shares: Iterable[NativeShare], known: Iterable[int] = ()) -> int:
    """The highest index a set has issued, from its shares' count bytes and ``known`` indices
    (a manifest's). Every index up to it counts as used."""
    return max([*(s.count for s in shares), *known], default=0)


def plan_indices(
    shares: Sequence[NativeShare],
    *,
    count: int | None = None,
    indices: Sequence[int] = (),
    known: Iterable[int] = (),
) -> list[int]:
    """The new indices: the next ``count`` free ones, or exactly ``indices``.

    :class:`IndexInUseError` (exit 3) for an index the set has issued already;
    :class:`InputError` (exit 2) beyond 255 or for a malformed request.
    """
    top = highest_index(shares, known)
    if (count is None) == (not indices):
        raise InputError("give either a number of new shares or their indices")
    if count is not None:
        if count < 1:
            raise InputError("the number of new shares must be at least 1")
        wanted = list(range(top + 1, top + 1 + count))
    else:
        wanted = sorted(indices)
        if len(set(wanted)) != len(wanted):
            raise InputError("an index was given twice")
        used = [i for i in wanted if i <= top]
        if used:
            raise IndexInUseError(
                f"index {', '.join(map(str, used))} already issued: the set has issued "
                f"indices 1 to {top}; new shares take indices above {top}"
            )
    if not wanted or wanted[0] < 1 or wanted[-1] > 255:
        raise InputError(
            f"a share set has at most 255 indices; {top} are issued, "
            f"so at most {255 - top} more can be made"
        )
    return wanted


def _one_set(shares: Sequence[NativeShare]) -> None:
    """Refuse shares of several sets (exit 3), naming the ones not of the first set."""
    if not shares:
        raise InputError("no shares given")
    first = shares[0].set_id
    others = [s for s in shares if s.set_id != first]
    if others:
        named = "; ".join(f"{s.source} (set {s.set_id_hex})" for s in others)
        raise ForeignShareError(
            others[0].source,
            f"shares of more than one set were given: {named} are not of set "
            f"{first.hex()} like {shares[0].source}; an extension takes shares of one set",
        )


class _Evaluator:
    """The Lagrange combinations of m payload chunks at the new x values."""

    def __init__(self, xs: Sequence[int], new_xs: Sequence[int]) -> None:
        self.rows = [FIELD.lagrange_coefficients(list(xs), at=x) for x in new_xs]
        self._encoder: RegionEncoder | None = None
        if kernel_name() == ISAL:
            from tcr_kit.sharing.isal import RegionEncoder

            self._encoder = RegionEncoder(FIELD, self.rows)

    def process(self, chunks: Sequence[memoryview], outs: Sequence[bytearray]) -> None:
        if self._encoder is not None:
            self._encoder.encode(chunks, outs)
            return
        import numpy

        sources = [numpy.frombuffer(c, dtype=numpy.uint8) for c in chunks]
        for row, out in zip(self.rows, outs, strict=True):
            acc = numpy.frombuffer(out, dtype=numpy.uint8)
            acc[:] = 0
            for coefficient, src in zip(row, sources, strict=True):
                table = numpy.frombuffer(FIELD.mul_table(coefficient), dtype=numpy.uint8)
                product = numpy.take(table, src)
                numpy.bitwise_xor(acc, product, out=acc)
                product.fill(0)


def extend_stream(
    shares: Sequence[NativeShare],
    indices: Sequence[int],
    sinks: Sequence[BinaryIO],
) -> list[bytes]:
    """Write a new compact share at each of ``indices`` to ``sinks``; returns their SHA-256.

    Every given share must belong to one set and agree with the others: a share of another
    set is refused (:class:`ForeignShareError`), fewer than m shares raise
    :class:`NotEnoughSharesError` (exit 4), and any share that does not verify refuses the
    whole extension (exit 3) rather than being left out. ``indices`` come from
    :func:`plan_indices` (an index already issued is refused here too).
    """
    _one_set(shares)
    if len(sinks) != len(indices):
        raise ValueError("need one sink per new index")
    plan_indices(shares, indices=indices)  # refuses indices already issued
    selection = select_shares(shares)
    if selection.rejected:
        named = "; ".join(f"{src}: {why}" for src, why in selection.rejected.items())
        raise InconsistentSharesError(
            f"refusing to extend from shares that do not all verify: {named}",
            list(selection.rejected),
        )
    chosen = selection.chosen
    key = bytearray(selection.key)
    try:
        return _write_new(chosen, bytes(key), list(indices), sinks)
    finally:
        wipe(key)


def _write_new(
    chosen: Sequence[NativeShare], key: bytes, indices: list[int], sinks: Sequence[BinaryIO]
) -> list[bytes]:
    h = chosen[0].header
    count_byte = max(highest_index(chosen), *indices)
    label = h.label.encode("utf-8")
    points = [(s.index, s.header.kshare) for s in chosen]
    framers = []
    for x, sink in zip(indices, sinks, strict=True):
        head = (
            bytes([FORMAT_VERSION, 0])
            + h.set_id
            + bytes([h.threshold, count_byte, x, len(label)])
            + label
        )
        framers.append(ShareWriter(sink, head, FIELD.interpolate(points, at=x), compact=True))
    evaluator = _Evaluator([s.index for s in chosen], indices)
    length = h.secret_length
    hashers = [hashlib.sha256() for _ in chosen]
    inputs = [memoryview(bytearray(CHUNK_SIZE)) for _ in chosen]
    outputs = [bytearray(CHUNK_SIZE) for _ in indices]
    fds = [s.open_fd() for s in chosen]
    try:
        for offset in range(0, length, CHUNK_SIZE):
            size = min(CHUNK_SIZE, length - offset)
            blocks = [
                s.read_payload_into(fd, offset, buf[:size])
                for s, fd, buf in zip(chosen, fds, inputs, strict=True)
            ]
            for hasher, block in zip(hashers, blocks, strict=True):
                hasher.update(block)
            outs = outputs if size == CHUNK_SIZE else [bytearray(size) for _ in indices]
            evaluator.process(blocks, outs)
            for framer, out in zip(framers, outs, strict=True):
                framer.payload(memoryview(out))
            if outs is not outputs:
                for out in outs:
                    wipe(out)
    finally:
        for fd in fds:
            if fd is not None:
                os.close(fd)
        for buf in inputs:
            wipe(buf.obj)  # type: ignore[arg-type]
        for out in outputs:
            wipe(out)
    for share, hasher in zip(chosen, hashers, strict=True):
        if not hmac.compare_digest(hasher.digest(), share.payload_digest):
            raise ShareChangedError(
                share.source,
                "changed while the new shares were computed from it; nothing was written",
            )
    return [framer.finish(key, length) for framer in framers]


def extend_bytes(shares: Sequence[NativeShare], indices: Sequence[int]) -> list[NativeShare]:
    """New shares at ``indices`` in memory (index order); see :func:`extend_stream`."""
    sinks = [io.BytesIO() for _ in indices]
    extend_stream(shares, indices, sinks)
    return [decode_share(s.getvalue(), f"share {x}") for x, s in zip(indices, sinks, strict=True)]


@dataclass
class ExtendOutcome:
    """A finished extension: the new indices, their files and share digests, in order."""

    indices: list[int]
    paths: list[Path]
    digests: list[bytes]
    encoding: str
    extra: list[Path] = field(default_factory=list)

    def share_rows(self) -> list[dict[str, object]]:
        return [
            {"index": x, "file": str(p), "share_sha256": d.hex()}
            for x, p, d in zip(self.indices, self.paths, self.digests, strict=True)
        ]


Finish = Callable[[list[tuple[int, bytes, str]]], list[bytes]]
"""Called with ``(index, share SHA-256, file name)`` of every new share before anything is
published; returns the bytes of the extra files (a signed manifest) to publish with them."""


def extend_to_dir(
    share_paths: Sequence[Path],
    indices: Sequence[int],
    out_dir: Path,
    stem: str,
    *,
    encoding: str = "auto",
    extra_paths: Sequence[Path] = (),
    finish: Finish | None = None,
    force: bool = False,
) -> ExtendOutcome:
    """Write new share files at ``indices`` (and ``extra_paths``) in ``out_dir``; all or none.

    Files are named like a split's (``<stem>.share-NNN.txt|tcrs``, 0600) and never replace
    an existing file unless ``force``. ``finish`` (signing the manifest, recording the
    extension) runs before anything is published: if it raises, no file appears.
    """
    from tcr_kit.fileio import atomic_outputs
    from tcr_kit.sharing.files import TEXT_AUTO_LIMIT, native_share_name, open_native

    if encoding not in {"auto", "text", "compact"}:
        raise ValueError("encoding must be auto, text or compact")
    shares, unreadable = open_native(share_paths)
    if unreadable:
        named = "; ".join(f"{src}: {why}" for src, why in unreadable.items())
        raise InconsistentSharesError(f"refusing to extend: {named}", list(unreadable))
    _one_set(shares)
    if encoding == "auto":
        encoding = "text" if shares[0].secret_length <= TEXT_AUTO_LIMIT else "compact"
    text = encoding == "text"
    paths = [out_dir / native_share_name(stem, x, text) for x in indices]
    if extra_paths and finish is None:
        raise ValueError("extra paths need a finish callback")
    with atomic_outputs([*paths, *extra_paths], force=force) as handles:
        share_handles, extra_handles = handles[: len(paths)], handles[len(paths) :]
        if text:
            sinks = [io.BytesIO() for _ in indices]
            digests = extend_stream(shares, indices, sinks)
            for sink, handle in zip(sinks, share_handles, strict=True):
                handle.write(decode_share(sink.getvalue()).encode_text().encode("ascii") + b"\n")
                buf = sink.getbuffer()
                buf[:] = bytes(len(buf))
                del buf
        else:
            digests = extend_stream(shares, indices, share_handles)
        if finish is not None:
            extras = finish(
                [(x, d, p.name) for x, d, p in zip(indices, digests, paths, strict=True)]
            )
            if len(extras) != len(extra_handles):
                raise ValueError("finish returned the wrong number of extra files")
            for handle, data in zip(extra_handles, extras, strict=True):
                handle.write(data)
    return ExtendOutcome(list(indices), paths, digests, encoding, list(extra_paths))
