"""Splitting into native shares: streamed, with a manifest of the set and no secret kept."""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from tcr_kit.errors import InputError
from tcr_kit.secrets import SecretBuffer, random_bytes, wipe
from tcr_kit.sharing.native_header import (
    FIELD,
    FORMAT_VERSION,
    KEY_SIZE,
    MAGIC,
    SET_ID_SIZE,
    TAG_CONTEXT,
    TAG_SIZE,
    validate_label,
)
from tcr_kit.sharing.native_share import NativeShare, decode_share
from tcr_kit.sharing.stream import CHUNK_SIZE, BulkRandom, SplitKernel

if TYPE_CHECKING:
    pass

__all__ = ["SplitManifest", "canonical_json", "split_bytes", "split_stream"]


@dataclass
class SplitManifest:
    """What a split produced: the set's identity and each share's digest, no secret."""

    set_id: bytes
    threshold: int
    count: int
    secret_length: int
    label: str
    share_digests: list[bytes] = field(default_factory=list)

    @property
    def set_id_hex(self) -> str:
        return self.set_id.hex()

    def record(self, files: Sequence[str] = ()) -> dict[str, object]:
        """The manifest as a JSON-ready dict (no secret): what a ceremony records."""
        shares: list[dict[str, object]] = []
        for index, digest in enumerate(self.share_digests, 1):
            entry: dict[str, object] = {"index": index, "sha256": digest.hex()}
            if files:
                entry["file"] = files[index - 1]
            shares.append(entry)
        return {
            "manifest": "tcr-kit share set",
            "manifest_version": 1,
            "format_version": FORMAT_VERSION,
            "set_id": self.set_id_hex,
            "threshold": self.threshold,
            "count": self.count,
            "secret_length": self.secret_length,
            "label": self.label,
            "shares": shares,
        }


def canonical_json(obj: object) -> bytes:
    """Sorted keys, no insignificant white space, UTF-8: the bytes a manifest hash covers."""
    import json

    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _check_split_args(threshold: int, count: int) -> None:
    if not 1 <= count <= 255:
        raise ValueError("count must be between 1 and 255")
    if not 1 <= threshold <= count:
        raise ValueError("threshold must be between 1 and the count")


class ShareWriter:
    """Frames one share's body into a sink while hashing it (split and extend write the same
    framing)."""

    def __init__(self, sink: BinaryIO, head: bytes, kshare: bytes, compact: bool) -> None:
        from tcr_kit.sharing.isal import crc32  # zlib's CRC-32, on ISA-L when installed

        self._crc32 = crc32
        self.sink = sink
        self.crc = 0
        self.payload_hash = hashlib.sha256()
        self.share_hash = hashlib.sha256(MAGIC)
        self.head = head
        if compact:
            sink.write(MAGIC)
        self._body(head + kshare)

    def _body(self, block: bytes | memoryview) -> None:
        self.sink.write(block)
        self.crc = self._crc32(block, self.crc)
        self.share_hash.update(block)

    def payload(self, block: memoryview) -> None:
        self.payload_hash.update(block)
        self._body(block)

    def finish(self, key: bytes, length: int) -> bytes:
        length_bytes = struct.pack(">Q", length)
        tag = hmac.new(
            key,
            TAG_CONTEXT + self.head + length_bytes + self.payload_hash.digest(),
            hashlib.sha256,
        ).digest()[:TAG_SIZE]
        self._body(length_bytes + tag)
        crc = struct.pack(">I", self.crc)
        self.sink.write(crc)
        self.share_hash.update(crc)
        return self.share_hash.digest()


def split_stream(
    source: BinaryIO,
    threshold: int,
    count: int,
    sinks: Sequence[BinaryIO],
    *,
    label: str | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
) -> SplitManifest:
    """Split everything ``source`` yields into ``count`` compact shares written to ``sinks``.

    Memory stays bounded by a few chunks whatever the secret's size. Raises
    :class:`InputError` for an empty secret. ``progress`` is called with the number of
    secret bytes whose shares have been computed and queued for writing so far (at most
    :data:`tcr_kit.sharing.lanes.DEPTH` chunks ahead of the files).
    """
    _check_split_args(threshold, count)
    if len(sinks) != count:
        raise ValueError("need one sink per share")
    label = validate_label(label)
    set_id = random_bytes(SET_ID_SIZE)
    xs = list(range(1, count + 1))
    key = bytearray(random_bytes(KEY_SIZE))
    try:
        kshares = _split_small(bytes(key), xs, threshold)
        label_bytes = label.encode("utf-8")
        writers = []
        for x, sink, kshare in zip(xs, sinks, kshares, strict=True):
            head = (
                bytes([FORMAT_VERSION, 0])
                + set_id
                + bytes([threshold, count, x, len(label_bytes)])
                + label_bytes
            )
            writers.append(ShareWriter(sink, head, kshare, compact=True))
        kernel = SplitKernel(FIELD, xs, threshold)
        rng = BulkRandom()
        length = 0

        from tcr_kit.sharing.lanes import DEPTH, WriteLanes, chunk_for

        chunk_size = chunk_for(count + 1, chunk_size)

        # Each share's framing, CRC-32, two SHA-256 passes and write (the bulk of a split's
        # work once the GF(2^8) kernel is ISA-L) run on its lane thread, while this thread
        # reads, draws randomness and computes the next chunks. Buffer sets (the secret chunk
        # and one buffer per share) are recycled: a fresh 256 KiB buffer per share and chunk
        # cost page faults and zeroing, more than the GF(2^8) arithmetic. All are wiped at
        # the end.
        sets = [(bytearray(chunk_size), kernel.buffers(chunk_size)) for _ in range(DEPTH)]
        try:
            with WriteLanes([writer.payload for writer in writers], sets) as lanes:
                while True:
                    chunk, share_buffers = lanes.free_set()
                    n = _readinto_full(source, chunk)
                    if n == 0:
                        lanes.release()
                        break
                    length += n
                    secret = memoryview(chunk)[:n]
                    randoms = kernel.random_arrays(n, rng, share_buffers)
                    shares = kernel.process(secret, randoms, share_buffers)
                    lanes.put([memoryview(share) for share in shares])
                    if progress is not None:
                        progress(length)
        finally:
            for chunk, share_buffers in sets:
                wipe(chunk)
                for buffer in share_buffers:
                    wipe(buffer)
        if length == 0:
            raise InputError("the secret is empty: nothing to split")
        manifest = SplitManifest(set_id, threshold, count, length, label)
        for writer in writers:
            manifest.share_digests.append(writer.finish(bytes(key), length))
        return manifest
    finally:
        wipe(key)


def _readinto_full(source: BinaryIO, buf: bytearray) -> int:
    view = memoryview(buf)
    total = 0
    while total < len(buf):
        n = source.readinto(view[total:])  # type: ignore[attr-defined]
        if not n:
            break
        total += n
    return total


def _split_small(secret: bytes, xs: Sequence[int], threshold: int) -> list[bytes]:
    from tcr_kit.sharing.stream import split_small

    return split_small(FIELD, secret, xs, threshold)


def split_bytes(
    secret: bytes | bytearray | memoryview | SecretBuffer,
    threshold: int,
    count: int,
    *,
    label: str | None = None,
) -> list[NativeShare]:
    """Split an in-memory secret into native shares (index order)."""
    import io

    view = secret.view() if isinstance(secret, SecretBuffer) else memoryview(secret)
    sinks = [io.BytesIO() for _ in range(count)]
    split_stream(io.BytesIO(view), threshold, count, sinks, label=label)
    return [decode_share(s.getvalue(), f"share {i}") for i, s in enumerate(sinks, 1)]
