"""tcr-kit's native share format (version 1): shares that know when they are wrong.

Every share carries its set id, threshold, count, index, label and secret length, a CRC-32
that catches any single mistyped symbol or swap of two neighbours and names the share, and
set-level integrity data: a share of a random 128-bit *integrity key* K (split with the same
x values as the secret) and a tag ``HMAC-SHA256(K, header || length || SHA-256(payload))``.

Why this design:

* m-1 shares reveal nothing about the secret. K is independent of the secret and itself
  Shamir-shared, so the tags (MACs under an unknown key of data the holder already has) carry
  no information; there is no hash of the secret anywhere, which matters for low-entropy
  PINs an attacker could otherwise test guesses against.
* A corrupted, substituted or foreign share cannot pass: a combiner reconstructs K from m
  shares and accepts only shares whose tags verify under it. Forging a tag without K, or
  shifting K so that forged tags verify, succeeds with probability 2^-128 per attempt.
* With more than m shares the combiner searches for m shares that agree (their tags verify
  under the K they reconstruct), then checks every other share against that K and the
  integrity-key polynomial, so it names each inconsistent share and recovers from the rest.
  The search works on 16-byte values, never on the (possibly huge) payloads.
* Payloads are checked by digest before a single byte of secret is written, so a combine
  never outputs a wrong secret, even to a pipe.

The byte layout is in ``docs/formats.md``. Two encodings share one body: the compact form
(``b"\\x89TCR"`` + body) for cards and files, and the text form (``TCRS`` + Crockford base32 of
the body, grouped) for paper and screens.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import struct
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from tcr_kit.errors import InputError
from tcr_kit.secrets import SecretBuffer, random_bytes, wipe
from tcr_kit.sharing import textcode
from tcr_kit.sharing.errors import (
    ForeignShareError,
    InconsistentSharesError,
    NotEnoughSharesError,
    ShareChecksumError,
    ShareError,
    UnknownFormatError,
)
from tcr_kit.sharing.gf256 import RIJNDAEL_POLY
from tcr_kit.sharing.gf256 import field as gf_field
from tcr_kit.sharing.result import CombineResult
from tcr_kit.sharing.stream import CHUNK_SIZE, BulkRandom, CombineKernel, SplitKernel

FORMAT_VERSION = 1
"""The version byte every native share starts its body with."""

MAGIC = b"\x89TCR"
"""First four bytes of the compact form (0x89 keeps it apart from any text)."""

TEXT_PREFIX = "TCRS"
"""First four symbols of the text form."""

SET_ID_SIZE = 8
"""Bytes of random share-set id (64 bits)."""

KEY_SIZE = 16
"""Bytes of the integrity key K and of each share of it."""

TAG_SIZE = 16
"""Bytes of the truncated HMAC-SHA256 tag."""

MAX_LABEL_BYTES = 255
"""Longest label, in UTF-8 bytes."""

TAG_CONTEXT = b"tcr-kit/share-tag/v1"
"""Domain separation prefix of the tag input."""

MAX_SUBSET_TRIALS = 20000
"""How many m-subsets the combiner tries before giving up on locating bad shares."""

_FIXED_HEAD = 14  # version, flags, set id (8), m, n, x, label length
_TRAILER = 8 + TAG_SIZE + 4  # secret length, tag, crc
_FIELD = gf_field(RIJNDAEL_POLY)


@dataclass(frozen=True)
class ShareHeader:
    """Everything in a native share except its payload."""

    set_id: bytes
    threshold: int
    count: int
    index: int
    label: str
    kshare: bytes = field(repr=False)
    secret_length: int
    tag: bytes = field(repr=False)
    crc: int
    version: int = FORMAT_VERSION

    @property
    def set_id_hex(self) -> str:
        return self.set_id.hex()

    def head_bytes(self) -> bytes:
        """Version through label: the bytes the tag covers before the length."""
        label = self.label.encode("utf-8")
        return (
            bytes([self.version, 0])
            + self.set_id
            + bytes([self.threshold, self.count, self.index, len(label)])
            + label
        )

    @property
    def body_length(self) -> int:
        return len(self.head_bytes()) + KEY_SIZE + self.secret_length + _TRAILER


def _validate_label(label: str | None) -> str:
    if label is None:
        return ""
    encoded = label.encode("utf-8")
    if len(encoded) > MAX_LABEL_BYTES:
        raise ValueError(f"label longer than {MAX_LABEL_BYTES} UTF-8 bytes")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in label):
        raise ValueError("label contains control characters")
    return label


def _parse_head(buf: bytes, source: str) -> tuple[ShareHeader, int]:
    """Parse version..kshare; returns a header with placeholder trailer and the payload offset."""
    if len(buf) < _FIXED_HEAD:
        raise ShareError(source, "truncated share (header incomplete)")
    version, flags = buf[0], buf[1]
    if version != FORMAT_VERSION:
        raise ShareError(source, f"unsupported native format version {version}")
    if flags != 0:
        raise ShareError(source, f"unknown flags {flags:#04x}")
    set_id = bytes(buf[2:10])
    threshold, count, index, label_len = buf[10], buf[11], buf[12], buf[13]
    if not 1 <= threshold <= count:
        raise ShareError(source, f"invalid threshold {threshold} of {count}")
    if not 1 <= index <= count:
        raise ShareError(source, f"invalid share index {index} of {count}")
    end_label = _FIXED_HEAD + label_len
    if len(buf) < end_label + KEY_SIZE:
        raise ShareError(source, "truncated share (header incomplete)")
    try:
        label = bytes(buf[_FIXED_HEAD:end_label]).decode("utf-8")
        _validate_label(label)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ShareError(source, "invalid label") from exc
    kshare = bytes(buf[end_label : end_label + KEY_SIZE])
    header = ShareHeader(
        set_id=set_id,
        threshold=threshold,
        count=count,
        index=index,
        label=label,
        kshare=kshare,
        secret_length=0,
        tag=b"",
        crc=0,
    )
    return header, end_label + KEY_SIZE


def _parse_trailer(
    header: ShareHeader, trailer: bytes, body_length: int, source: str
) -> ShareHeader:
    secret_length = struct.unpack(">Q", trailer[:8])[0]
    tag = bytes(trailer[8 : 8 + TAG_SIZE])
    crc = struct.unpack(">I", trailer[8 + TAG_SIZE :])[0]
    complete = ShareHeader(
        set_id=header.set_id,
        threshold=header.threshold,
        count=header.count,
        index=header.index,
        label=header.label,
        kshare=header.kshare,
        secret_length=secret_length,
        tag=tag,
        crc=crc,
    )
    if secret_length < 1 or complete.body_length != body_length:
        raise ShareError(source, "share length does not match its recorded secret length")
    return complete


class NativeShare:
    """One native share: its header and a way to read its payload (memory or file).

    The payload is share material: treat it as secret. ``repr`` never shows it.
    """

    def __init__(
        self,
        header: ShareHeader,
        source: str,
        *,
        data: bytes | None = None,
        path: Path | None = None,
        body_offset: int = 0,
    ) -> None:
        if (data is None) == (path is None):
            raise ValueError("a share is backed by exactly one of data or path")
        self.header = header
        self.source = source
        self._data = data
        self._path = path
        self._body_offset = body_offset
        self._payload_offset = len(header.head_bytes()) + KEY_SIZE
        self._digest: bytes | None = None
        self._crc_ok: bool | None = None

    def __repr__(self) -> str:
        h = self.header
        return (
            f"<NativeShare {self.source!r} set={h.set_id_hex} "
            f"{h.index} of {h.count}, threshold {h.threshold}>"
        )

    # Convenience accessors used by the CLI and the card layer.
    @property
    def set_id(self) -> bytes:
        return self.header.set_id

    @property
    def set_id_hex(self) -> str:
        return self.header.set_id_hex

    @property
    def threshold(self) -> int:
        return self.header.threshold

    @property
    def count(self) -> int:
        return self.header.count

    @property
    def index(self) -> int:
        return self.header.index

    @property
    def label(self) -> str:
        return self.header.label

    @property
    def secret_length(self) -> int:
        return self.header.secret_length

    def iter_body(self, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """The body bytes, chunk by chunk."""
        if self._data is not None:
            for off in range(0, len(self._data), chunk_size):
                yield self._data[off : off + chunk_size]
            return
        if self._path is None:
            raise RuntimeError("share has neither data nor path")
        with open(self._path, "rb") as fh:
            fh.seek(self._body_offset)
            remaining = self.header.body_length
            while remaining:
                block = fh.read(min(chunk_size, remaining))
                if not block:
                    raise ShareError(self.source, "file shrank while reading")
                remaining -= len(block)
                yield block

    def read_payload(self, fd: int | None, offset: int, size: int) -> bytes:
        """``size`` payload bytes from ``offset``; ``fd`` is an open descriptor for files."""
        start = self._payload_offset + offset
        if self._data is not None:
            return self._data[start : start + size]
        if fd is None:
            raise ValueError("a file-backed share needs an open descriptor")
        block = os.pread(fd, size, self._body_offset + start)
        if len(block) != size:
            raise ShareError(self.source, "file shrank while reading")
        return block

    def read_payload_into(self, fd: int | None, offset: int, buf: memoryview) -> memoryview:
        """Fill ``buf`` with payload bytes from ``offset`` (no allocation for file shares)."""
        size = len(buf)
        if self._data is not None:
            start = self._payload_offset + offset
            buf[:] = memoryview(self._data)[start : start + size]
            return buf
        if fd is None:
            raise ValueError("a file-backed share needs an open descriptor")
        position = self._body_offset + self._payload_offset + offset
        done = 0
        while done < size:
            n = os.preadv(fd, [buf[done:]], position + done)
            if n <= 0:
                raise ShareError(self.source, "file shrank while reading")
            done += n
        return buf

    def open_fd(self) -> int | None:
        return os.open(self._path, os.O_RDONLY) if self._path is not None else None

    def crc_ok(self) -> bool:
        """Whether the share's own CRC-32 matches (reads a file-backed share once)."""
        if self._crc_ok is None:
            crc = 0
            covered = self.header.body_length - 4
            position = 0
            for block in self.iter_body():
                crc = zlib.crc32(memoryview(block)[: max(0, covered - position)], crc)
                position += len(block)
            self._crc_ok = crc == self.header.crc
        return self._crc_ok

    def check(self) -> None:
        """Verify the share's own checksum; raises :class:`ShareChecksumError`."""
        if not self.crc_ok():
            raise ShareChecksumError(
                self.source, "checksum mismatch: the share was mistyped or corrupted"
            )

    @property
    def payload_digest(self) -> bytes:
        """SHA-256 of the payload (what the tag covers); computed once."""
        if self._digest is None:
            digest = hashlib.sha256()
            if self._data is not None:
                start = self._payload_offset
                digest.update(memoryview(self._data)[start : start + self.header.secret_length])
            else:
                fd = self.open_fd()
                buf = memoryview(bytearray(CHUNK_SIZE))
                try:
                    for offset in range(0, self.header.secret_length, CHUNK_SIZE):
                        size = min(CHUNK_SIZE, self.header.secret_length - offset)
                        digest.update(self.read_payload_into(fd, offset, buf[:size]))
                finally:
                    if fd is not None:
                        os.close(fd)
            self._digest = digest.digest()
        return self._digest

    def _reject_reason(self, reason: str) -> str:
        """``reason``, unless the share's own checksum explains the fault better."""
        if not self.crc_ok():
            return "checksum mismatch: the share was mistyped or corrupted"
        return reason

    def tag_input(self) -> bytes:
        return (
            TAG_CONTEXT
            + self.header.head_bytes()
            + struct.pack(">Q", self.header.secret_length)
            + self.payload_digest
        )

    def tag_matches(self, key: bytes) -> bool:
        expected = hmac.new(key, self.tag_input(), hashlib.sha256).digest()[:TAG_SIZE]
        return hmac.compare_digest(expected, self.header.tag)

    def body(self) -> bytes:
        """The whole body in memory (refused above 16 MiB: use the file)."""
        if self._data is not None:
            return self._data
        if self.header.body_length > 16 << 20:
            raise ValueError("share too large to hold in memory")
        return b"".join(self.iter_body())

    def encode_compact(self) -> bytes:
        """Compact binary form: magic + body."""
        return MAGIC + self.body()

    def encode_text(self) -> str:
        """Text form, grouped in fives, six groups a line."""
        return textcode.group(TEXT_PREFIX + textcode.encode(self.body()))

    def digest(self) -> bytes:
        """SHA-256 of the compact form: the share's identity in records and manifests."""
        h = hashlib.sha256(MAGIC)
        for block in self.iter_body():
            h.update(block)
        return h.digest()


# --------------------------------------------------------------------------- decoding


def _from_body(body: bytes, source: str, *, check_crc: bool = True) -> NativeShare:
    if len(body) < _FIXED_HEAD + KEY_SIZE + 1 + _TRAILER:
        # Still check the CRC first where possible: a typo is likelier than a truncation.
        raise ShareError(source, "truncated share")
    if check_crc and zlib.crc32(body[:-4]) != struct.unpack(">I", body[-4:])[0]:
        raise ShareChecksumError(source, "checksum mismatch: the share was mistyped or corrupted")
    head, _ = _parse_head(body, source)
    header = _parse_trailer(head, body[-_TRAILER:], len(body), source)
    share = NativeShare(header, source, data=bytes(body))
    share._crc_ok = True if check_crc else None
    return share


def decode_share(data: bytes | str, source: str = "") -> NativeShare:
    """Decode a native share from its compact bytes or its text form.

    Raises :class:`UnknownFormatError` when the data is neither, :class:`ShareChecksumError`
    when the share's own checksum fails, :class:`ShareError` when it is malformed.
    """
    if isinstance(data, bytes | bytearray):
        if data[:4] == MAGIC:
            return _from_body(bytes(data[4:]), source)
        try:
            text = bytes(data).decode("ascii")
        except UnicodeDecodeError as exc:
            raise UnknownFormatError(f"{source or 'input'}: not a tcr-kit native share") from exc
    else:
        text = data
    symbols = textcode.normalize(text)
    if not symbols.startswith(TEXT_PREFIX):
        raise UnknownFormatError(f"{source or 'input'}: not a tcr-kit native share")
    try:
        body = textcode.decode(symbols[len(TEXT_PREFIX) :])
    except textcode.DecodeError as exc:
        raise ShareChecksumError(source, f"not valid share text: {exc}") from exc
    return _from_body(body, source)


def looks_like(head: bytes) -> bool:
    """Whether the first bytes of a file or text look like a native share."""
    if head[:4] == MAGIC:
        return True
    try:
        text = head[:64].decode("ascii", errors="strict")
    except UnicodeDecodeError:
        return False
    return textcode.normalize(text).startswith(TEXT_PREFIX)


TEXT_SIZE_LIMIT = 64 << 20
"""Text-form share files larger than this are refused (text is for small secrets)."""


def open_share_file(path: Path, source: str | None = None) -> NativeShare:
    """Open a native share file in either encoding; compact files are read lazily."""
    name = source or str(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4 + _FIXED_HEAD + MAX_LABEL_BYTES + KEY_SIZE)
            size = os.fstat(fh.fileno()).st_size
            if head[:4] == MAGIC:
                body_length = size - 4
                if body_length < _FIXED_HEAD + KEY_SIZE + 1 + _TRAILER:
                    raise ShareError(name, "truncated share")
                header, _ = _parse_head(head[4:], name)
                fh.seek(size - _TRAILER)
                trailer = fh.read(_TRAILER)
                header = _parse_trailer(header, trailer, body_length, name)
                return NativeShare(header, name, path=path, body_offset=4)
            if size > TEXT_SIZE_LIMIT:
                raise UnknownFormatError(f"{name}: not a tcr-kit native share")
            fh.seek(0)
            data = fh.read()
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror}") from exc
    return decode_share(data, name)


# --------------------------------------------------------------------------- splitting


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


class _ShareWriter:
    """Frames one share's body into a sink while hashing it."""

    def __init__(self, sink: BinaryIO, head: bytes, kshare: bytes, compact: bool) -> None:
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
        self.crc = zlib.crc32(block, self.crc)
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
) -> SplitManifest:
    """Split everything ``source`` yields into ``count`` compact shares written to ``sinks``.

    Memory stays bounded by a few chunks whatever the secret's size. Raises
    :class:`InputError` for an empty secret.
    """
    _check_split_args(threshold, count)
    if len(sinks) != count:
        raise ValueError("need one sink per share")
    label = _validate_label(label)
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
            writers.append(_ShareWriter(sink, head, kshare, compact=True))
        kernel = SplitKernel(_FIELD, xs, threshold)
        rng = BulkRandom()
        length = 0

        def write(shares: list[object]) -> None:
            for writer, share in zip(writers, shares, strict=True):
                writer.payload(memoryview(share))  # type: ignore[arg-type]

        with ThreadPoolExecutor(max_workers=2) as pool:
            pending: deque[tuple[Future[list[object]], bytearray]] = deque()
            while True:
                chunk = bytearray(chunk_size)
                n = _readinto_full(source, chunk)
                if n == 0:
                    wipe(chunk)
                    break
                del chunk[n:]
                length += n
                randoms = kernel.random_arrays(n, rng)
                pending.append((pool.submit(kernel.process, chunk, randoms), chunk))  # type: ignore[arg-type]
                if len(pending) >= 2:
                    done, secret_chunk = pending.popleft()
                    write(done.result())
                    wipe(secret_chunk)
            while pending:
                done, secret_chunk = pending.popleft()
                write(done.result())
                wipe(secret_chunk)
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

    return split_small(_FIELD, secret, xs, threshold)


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


# --------------------------------------------------------------------------- combining


@dataclass
class _Selection:
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
    return struct.pack(">BBQ", h.threshold, h.count, h.secret_length) + h.label.encode()


def _header_candidates(
    shares: Sequence[NativeShare], rejected: dict[str, str]
) -> list[NativeShare]:
    """Shares of the majority set whose headers agree; the others go to ``rejected``."""
    if not shares:
        return []
    set_id = _majority([s.header.set_id for s in shares])
    same_set = [s for s in shares if s.header.set_id == set_id]
    for s in shares:
        if s.header.set_id != set_id:
            rejected[s.source] = s._reject_reason(
                f"belongs to share set {s.header.set_id_hex}, not {set_id.hex()}"
            )
    signature = _header_signature(_majority_header(same_set))
    candidates = []
    for s in same_set:
        if _header_signature(s.header) != signature:
            rejected[s.source] = s._reject_reason(
                "its threshold, count, label or length disagree with the set"
            )
        else:
            candidates.append(s)
    return candidates


def select_shares(
    shares: Sequence[NativeShare], rejected_early: dict[str, str] | None = None
) -> _Selection:
    """Decide which shares to trust; name every one that is rejected and why.

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
    candidates = _header_candidates(shares, rejected)
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
        expected_kshare = _FIELD.interpolate(points, at=s.header.index)
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
    return _Selection(
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
        key = _FIELD.interpolate([(s.header.index, s.header.kshare) for s in subset])
        if all(s.tag_matches(key) for s in subset):
            return key, list(subset)
    return None


def _digest_of(share: NativeShare) -> bytes:
    return share.payload_digest


def _prefetch_digests(shares: Sequence[NativeShare]) -> None:
    """Hash file-backed payloads on two threads while this thread imports numpy.

    hashlib releases the GIL on large buffers, so the import (a good part of a combine's
    fixed cost) overlaps the hashing instead of adding to it.
    """
    pending = [s for s in shares if s._digest is None]
    if not pending:
        return
    # One thread per share (up to 8): SHA-256 of one share cannot be split, and with as many
    # threads as shares the cores stay busy to the end instead of idling on the last one.
    with ThreadPoolExecutor(max_workers=min(len(pending), 8)) as pool:
        futures = [pool.submit(_digest_of, s) for s in pending]
        from tcr_kit.sharing.stream import _np

        _np()
        for future in futures:
            future.result()


def _stream_pass(
    chosen: Sequence[NativeShare],
    write: Callable[[memoryview], object],
) -> None:
    """Interpolate the payloads of ``chosen`` at 0, chunk by chunk, into ``write``.

    Two worker threads read and combine chunks; this thread writes them in order. Buffer
    sets are recycled: no allocation per chunk.
    """
    kernel = CombineKernel(_FIELD, [s.header.index for s in chosen])
    length = chosen[0].header.secret_length
    in_flight = 3
    pool_sets: deque[list[memoryview]] = deque(
        [memoryview(bytearray(CHUNK_SIZE)) for _ in chosen] for _ in range(in_flight + 1)
    )
    fds = [s.open_fd() for s in chosen]
    try:

        def work(offset: int, buffers: list[memoryview]) -> tuple[object, list[memoryview]]:
            size = min(CHUNK_SIZE, length - offset)
            blocks = [
                s.read_payload_into(fd, offset, buf[:size])
                for s, fd, buf in zip(chosen, fds, buffers, strict=True)
            ]
            return kernel.process(blocks), blocks

        with ThreadPoolExecutor(max_workers=2) as pool:
            pending: deque[tuple[Future[tuple[object, list[memoryview]]], list[memoryview]]]
            pending = deque()
            offsets = iter(range(0, length, CHUNK_SIZE))
            for offset in itertools.islice(offsets, in_flight):
                buffers = pool_sets.popleft()
                pending.append((pool.submit(work, offset, buffers), buffers))
            while pending:
                future, buffers = pending.popleft()
                out, _ = future.result()
                write(memoryview(out))  # type: ignore[arg-type]
                out[:] = 0  # type: ignore[index]
                pool_sets.append(buffers)
                nxt = next(offsets, None)
                if nxt is not None:
                    buffers = pool_sets.popleft()
                    pending.append((pool.submit(work, nxt, buffers), buffers))
    finally:
        for fd in fds:
            if fd is not None:
                os.close(fd)


def _result(selection: _Selection) -> CombineResult:
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
) -> CombineResult:
    """Verify the shares, then stream the secret to ``sink``; nothing is written unless the
    shares agree. The returned result's ``secret`` is empty (the secret went to the sink).
    """
    selection = select_shares(shares, rejected_early)
    _stream_pass(selection.chosen, sink if callable(sink) else sink.write)
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


__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "NativeShare",
    "ShareHeader",
    "SplitManifest",
    "combine_shares",
    "combine_stream",
    "decode_share",
    "looks_like",
    "open_share_file",
    "select_shares",
    "split_bytes",
    "split_stream",
]
