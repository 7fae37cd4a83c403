"""A native share in memory or on disk: checks, digests and the compact and text forms.

The compact form is ``MAGIC`` + body (cards and files), the text form ``TCRS`` + Crockford
base32 of the body, grouped (paper and screens). A compact share file is read lazily: only
its header and trailer until the payload is needed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

from tcr_kit.errors import InputError
from tcr_kit.sharing import textcode
from tcr_kit.sharing.errors import ShareChecksumError, ShareError, UnknownFormatError
from tcr_kit.sharing.native_header import (
    FIXED_HEAD,
    KEY_SIZE,
    MAGIC,
    MAX_LABEL_BYTES,
    TAG_CONTEXT,
    TAG_SIZE,
    TEXT_PREFIX,
    TRAILER_SIZE,
    ShareHeader,
    parse_head,
    parse_trailer,
)
from tcr_kit.sharing.stream import CHUNK_SIZE

__all__ = [
    "TEXT_SIZE_LIMIT",
    "NativeShare",
    "decode_share",
    "looks_like",
    "open_share_file",
]


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


def _from_body(body: bytes, source: str, *, check_crc: bool = True) -> NativeShare:
    if len(body) < FIXED_HEAD + KEY_SIZE + 1 + TRAILER_SIZE:
        # Still check the CRC first where possible: a typo is likelier than a truncation.
        raise ShareError(source, "truncated share")
    if check_crc and zlib.crc32(body[:-4]) != struct.unpack(">I", body[-4:])[0]:
        raise ShareChecksumError(source, "checksum mismatch: the share was mistyped or corrupted")
    head, _ = parse_head(body, source)
    header = parse_trailer(head, body[-TRAILER_SIZE:], len(body), source)
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
        if len(data) > TEXT_SIZE_LIMIT:
            raise UnknownFormatError(
                f"{source or 'input'}: too large for a text share "
                f"(more than {TEXT_SIZE_LIMIT >> 20} MiB)"
            )
        try:
            text = bytes(data).decode("ascii")
        except UnicodeDecodeError as exc:
            raise UnknownFormatError(f"{source or 'input'}: not a tcr-kit native share") from exc
    else:
        text = data
    if len(text) > TEXT_SIZE_LIMIT:  # checked before any decoding work
        raise UnknownFormatError(
            f"{source or 'input'}: too large for a text share "
            f"(more than {TEXT_SIZE_LIMIT >> 20} MiB)"
        )
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
            head = fh.read(4 + FIXED_HEAD + MAX_LABEL_BYTES + KEY_SIZE)
            size = os.fstat(fh.fileno()).st_size
            if head[:4] == MAGIC:
                body_length = size - 4
                if body_length < FIXED_HEAD + KEY_SIZE + 1 + TRAILER_SIZE:
                    raise ShareError(name, "truncated share")
                header, _ = parse_head(head[4:], name)
                fh.seek(size - TRAILER_SIZE)
                trailer = fh.read(TRAILER_SIZE)
                header = parse_trailer(header, trailer, body_length, name)
                return NativeShare(header, name, path=path, body_offset=4)
            if size > TEXT_SIZE_LIMIT:
                raise UnknownFormatError(f"{name}: not a tcr-kit native share")
            fh.seek(0)
            data = fh.read()
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror}") from exc
    return decode_share(data, name)
